using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Attribution;
using MLNetMixers.Encoding;
using MLNetMixers.Models;
using MLNetMixers.Tests.Encoding;
using MLNetMixers.Tests.Trainers;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Attribution;

/// <summary>Synthetic data where the label depends on two named fields only, and a short explicit training loop.</summary>
internal static class AttributionTestModels
{
    /// <summary>
    /// The dropout the attribution tests' thresholds were set with; pinned so that the trainers' default (sized to the
    /// table since 2026-12-02: 0.3 on these small tables) does not retrain the models under them.
    /// </summary>
    private const double CalibratedDropout = 0.1;

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

    /// <summary>The synthetic task through the public pipeline (encoder + binary mixer trainer), trained once per test run.</summary>
    public static readonly Lazy<SyntheticFit> Synthetic1500 = new(() =>
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Synthetic(1500, seed: 7));
        var pipeline = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions
            {
                InputColumnNames = ["Income", "Age", "Balance", "Color", "City", "Pet"],
                MissingTextValues = [""],
                // The attribution margins below were measured on the digits-only layout with text as characters; with the
                // decile character gradient x input still ranks Income and Color first, by 1.19x instead of 2.0x over the
                // next field. With Color and City as category tokens it ranked City above Color, and the combined
                // method's margin fell to 1.4x; occlusion and integrated gradients still rank Income and Color first.
                NumberDeciles = false, NumberValueTokens = false, MaxCategories = 0,
            })
            .Append(ml.BinaryClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerBinaryTrainer.Options { Dropout = CalibratedDropout }, epochs: 12)));
        var model = pipeline.Fit(data);
        var explained = ExplainedPipeline.Resolve(model);
        var tokens = EncodingTestHelpers.EncodeRows(explained.Encoder, data);
        return new SyntheticFit(ml, model, explained, tokens, data);
    });

    /// <summary>Penguins (344 rows, 3 species, missing values) through the public multiclass pipeline, trained once per test run.</summary>
    public static readonly Lazy<PenguinFit> Penguins = new(() =>
    {
        var ml = new MLContext(seed: 1);
        var data = RealDataAttributionTests.LoadPenguins(ml);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"))
            .Append(ml.MulticlassClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerMulticlassTrainer.Options { Dropout = CalibratedDropout }, epochs: 20)));
        var model = pipeline.Fit(data);
        var explained = ExplainedPipeline.Resolve(model);
        return new PenguinFit(ml, model, explained, EncodingTestHelpers.EncodeRows(explained.Encoder, data), data);
    });

    public static double Accuracy(ExplainedModel model, int[][] tokens, float[] labels)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = tensor(tokens.SelectMany(r => r.Select(t => (long)t)).ToArray(), [tokens.Length, tokens[0].Length]);
        var predicted = model.PredictedClass(model.Network.forward(x)).data<long>().ToArray();
        return predicted.Zip(labels, (p, l) => p == (long)l ? 1.0 : 0.0).Average();
    }
}

internal sealed record SyntheticFit(MLContext Ml, ITransformer Model, ExplainedPipeline Pipeline, int[][] Tokens, IDataView Data);

internal sealed record PenguinFit(MLContext Ml, ITransformer Model, ExplainedPipeline Pipeline, int[][] Tokens, IDataView Data);
