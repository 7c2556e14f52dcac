using Microsoft.ML;
using MLNetMixers.Attribution;
using MLNetMixers.Encoding;
using MLNetMixers.Models;
using MLNetMixers.Tests.Encoding;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Attribution;

/// <summary>Synthetic data where the label depends on two named fields only, and a short explicit training loop.</summary>
internal static class AttributionTestModels
{
    public sealed class SyntheticRow
    {
        public float Income { get; set; }
        public float Age { get; set; }
        public float Balance { get; set; }
        public string Color { get; set; } = "";
        public string City { get; set; } = "";
        public string Pet { get; set; } = "";
        public bool Label { get; set; }
    }

    public static readonly string[] RelevantFields = ["Income", "Color"];

    /// <summary>
    /// Label = Income + (Color is red ? 40 : 0) &gt; 70; Age, Balance, City and Pet are drawn independently. In the
    /// irrelevant fields 15% of cells are missing (NaN or empty text), so the model has seen the missing token that
    /// occlusion and the baseline use; the relevant ones are always present, so the label is a clean function of the row.
    /// </summary>
    public static List<SyntheticRow> Synthetic(int rows, int seed)
    {
        var random = new Random(seed);
        string[] colors = ["red", "blue", "green"], cities = ["Oslo", "<b>&", "Rome"], pets = ["cat", "dog", "eel"];
        var data = new List<SyntheticRow>(rows);
        for (int i = 0; i < rows; i++)
        {
            var row = new SyntheticRow
            {
                Income = random.Next(0, 100),
                Age = random.Next(0, 100),
                Balance = random.Next(0, 100),
                Color = colors[random.Next(3)],
                City = cities[random.Next(3)],
                Pet = pets[random.Next(3)],
            };
            row.Label = row.Income + (row.Color == "red" ? 40 : 0) > 70;
            if (random.NextDouble() < 0.15) row.Age = float.NaN;
            if (random.NextDouble() < 0.15) row.Balance = float.NaN;
            if (random.NextDouble() < 0.15) row.City = "";
            if (random.NextDouble() < 0.15) row.Pet = "";
            data.Add(row);
        }
        return data;
    }

    /// <summary>Trains a small mixer on encoded rows with AdamW; returns it in eval mode.</summary>
    public static TabularMixer Train(int[][] tokens, float[] targets, ExplainedTask task, int classCount,
        int epochs, int width = 32, int depth = 2, int seed = 1, double dropout = 0.1)
    {
        torch.set_num_threads(1);
        torch.random.manual_seed(seed);
        int length = tokens[0].Length;
        int vocabulary = tokens.SelectMany(r => r).Max() + 1;
        int outputs = task == ExplainedTask.Multiclass ? classCount : 1;
        var model = new TabularMixer(new TabularMixerConfig(length, Math.Max(vocabulary, 8), outputs, width, depth, Dropout: dropout));
        var optimizer = optim.AdamW(model.parameters(), lr: 3e-3, weight_decay: 0.05);
        var all = tensor(tokens.SelectMany(r => r.Select(t => (long)t)).ToArray(), [tokens.Length, length]);
        var y = tensor(targets);
        var random = new Random(seed);
        const int batch = 64;
        model.train();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var order = Enumerable.Range(0, tokens.Length).OrderBy(_ => random.Next()).ToArray();
            for (int b0 = 0; b0 < order.Length; b0 += batch)
            {
                using var scope = NewDisposeScope();
                var index = tensor(order.Skip(b0).Take(batch).Select(i => (long)i).ToArray());
                var output = model.forward(all.index_select(0, index));
                var target = y.index_select(0, index);
                var loss = task switch
                {
                    ExplainedTask.Binary => nn.functional.binary_cross_entropy_with_logits(output[.., 0], target),
                    ExplainedTask.Multiclass => nn.functional.cross_entropy(output, target.to(ScalarType.Int64)),
                    _ => nn.functional.mse_loss(output[.., 0], target),
                };
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
            }
        }
        model.eval();
        return model;
    }

    /// <summary>The synthetic task, encoded and trained.</summary>
    public static (ExplainedModel Model, CharacterEncodingTransformer Encoder, int[][] Tokens, IDataView Data) SyntheticModel(int rows = 1500, int epochs = 12)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Synthetic(rows, seed: 7));
        var encoder = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
        {
            InputColumnNames = ["Income", "Age", "Balance", "Color", "City", "Pet"],
            MissingTextValues = [""],
        }).Fit(data);
        var tokens = EncodingTestHelpers.EncodeRows(encoder, data);
        var labels = ml.Data.CreateEnumerable<SyntheticRow>(data, reuseRowObject: false).Select(r => r.Label ? 1f : 0f).ToArray();
        var network = Train(tokens, labels, ExplainedTask.Binary, 2, epochs);
        var model = new ExplainedModel(network, CPU, ExplainedTask.Binary, 2, encoder.Fields, encoder.SequenceLength);
        return (model, encoder, tokens, data);
    }

    /// <summary>The synthetic model as an explainable pipeline whose "model" is the encoder (the network is attached directly).</summary>
    public static ExplainedPipeline SyntheticPipeline((ExplainedModel Model, CharacterEncodingTransformer Encoder, int[][] Tokens, IDataView Data) trained)
        => new(trained.Encoder, trained.Encoder, trained.Model);

    public static double Accuracy(ExplainedModel model, int[][] tokens, float[] labels)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = tensor(tokens.SelectMany(r => r.Select(t => (long)t)).ToArray(), [tokens.Length, tokens[0].Length]);
        var predicted = model.PredictedClass(model.Network.forward(x)).data<long>().ToArray();
        return predicted.Zip(labels, (p, l) => p == (long)l ? 1.0 : 0.0).Average();
    }
}
