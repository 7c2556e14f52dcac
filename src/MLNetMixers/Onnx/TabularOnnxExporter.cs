using MLNetMixers.Encoding;
using MLNetMixers.Models;
using static TorchSharp.torch;

namespace MLNetMixers.Onnx;

/// <summary>
/// Writes a trained tabular model (<see cref="MixerPredictionTransformer"/>: the mixer, or the MLP or transformer
/// baseline, for any task) as one ONNX graph of standard operators.
/// </summary>
/// <remarks>
/// Input <c>token_ids</c>: int64 [batch, T], each row's token ids (the <c>EncodeAsCharacters</c> keys minus 1). Outputs
/// follow ML.NET's prediction columns: binary <c>score</c> (the logit), <c>probability</c> and <c>predicted_label</c>
/// (bool), each [batch, 1]; multiclass <c>score</c> (class probabilities, [batch, K]) and <c>predicted_label</c>
/// (0-based class index, int64 [batch, 1]); regression <c>score</c> (in the label's units, [batch, 1]).
/// </remarks>
internal static class TabularOnnxExporter
{
    public const string InputName = "token_ids";
    public const string ScoreName = "score";
    public const string ProbabilityName = "probability";
    public const string PredictedLabelName = "predicted_label";

    public static byte[] Export(MixerPredictionTransformer model)
    {
        var shape = model.Shape;
        var graph = new OnnxGraph("mlnetmixers_" + shape.Architecture.ToString().ToLowerInvariant());
        var net = new NetworkGraphWriter(graph, model.Network);
        int t = shape.SequenceLength;

        var ids = graph.Input(InputName, OnnxElementType.Int64, "batch", (long)t);
        var h = Embed(net, ids, shape);
        var raw = shape.Architecture switch
        {
            TabularArchitecture.Mixer => Mixer(net, h, shape, model.Network),
            TabularArchitecture.Mlp => Mlp(net, h, shape),
            TabularArchitecture.Transformer => Transformer(net, h, shape),
            _ => throw new NotSupportedException($"ONNX export does not know the tabular architecture {shape.Architecture}."),
        };
        WriteOutputs(graph, raw, model);

        var metadata = new Dictionary<string, string>
        {
            ["mlnetmixers.kind"] = "tabular",
            ["mlnetmixers.task"] = model.Task.ToString(),
            ["mlnetmixers.architecture"] = shape.Architecture.ToString(),
            ["mlnetmixers.sequence_length"] = t.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["mlnetmixers.vocabulary_size"] = shape.VocabularySize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        return graph.ToModel(metadata, "A tabular model trained by MLNetMixers; input: token ids (EncodeAsCharacters keys minus 1) as int64.");
    }

    /// <summary>E[token] (+ PLE(token) · W[position] for value tokens): [batch, T] ids -> [batch, T, d].</summary>
    private static string Embed(NetworkGraphWriter net, string ids, TabularModelShape shape)
    {
        var graph = net.Graph;
        var table = net.Weight("tokenEmbedding.weight");
        if (shape.ValueTokenStart < 0)
            return graph.Op("Gather", [table, ids], OnnxAttribute.Of("axis", 0L));

        // Value tokens are the vocabulary's last ids: clamping maps exactly them onto the first one.
        var start = graph.Int64Scalar(shape.ValueTokenStart);
        var shared = graph.Op("Gather", [table, graph.Op("Min", [ids, start])], OnnxAttribute.Of("axis", 0L));
        var level = graph.Op("Sub", [ids, start]);
        var outside = graph.Op("Or", [graph.Op("Less", [level, graph.Int64Scalar(0)]),
                                      graph.Op("GreaterOrEqual", [level, graph.Int64Scalar(NumberValueTokens.Count)])]);
        var row = graph.Op("Where", [outside, graph.Int64Scalar(NumberValueTokens.Count), level]);
        var levels = LevelTable(graph);
        var encoded = graph.Op("Gather", [levels, row], OnnxAttribute.Of("axis", 0L));               // [B, T, bins]
        var perPosition = graph.Op("MatMul", [net.Transpose(encoded, 1, 0, 2), net.Weight("valueEmbedding.weights")]); // [T, B, d]
        return net.Add(shared, net.Transpose(perPosition, 1, 0, 2));
    }

    /// <summary>The piecewise-linear level table [Count + 1, bins] the network embeds value tokens with (zeros last).</summary>
    private static string LevelTable(OnnxGraph graph)
    {
        using var scope = NewDisposeScope();
        var table = NumberValueEmbedding.LevelEncodings.Value;
        return graph.Weight("value_levels", table.cpu().contiguous().data<float>().ToArray(), table.shape);
    }

    private static string Mixer(NetworkGraphWriter net, string h, TabularModelShape shape, TabularModel network)
    {
        h = net.Add(h, net.Weight("positionEmbedding"));
        for (int b = 0; b < shape.Depth; b++)
        {
            string block = $"blocks.{b}";
            var normed = net.LayerNorm(h, $"{block}.tokenNorm");
            h = net.Add(h, shape.Heads == 1 ? TokenMixing(net, normed, $"{block}.tokenMixing") : MultiHeadTokenMixing(net, normed, $"{block}.tokenMixing", shape));
            h = net.Add(h, net.ChannelMlp(h, block));
        }
        h = net.LayerNorm(h, "finalNorm");
        var config = ((TabularMixer)network).Config;
        h = config.Head == TabularHead.Flatten
            ? net.Reshape(h, 0, (long)shape.SequenceLength * shape.Width)
            : net.Graph.Op("ReduceMean", [h], OnnxAttribute.Of("axes", [1L]), OnnxAttribute.Of("keepdims", 0L));
        return net.Linear(h, "head");
    }

    /// <summary>y = W · x + bias over the sequence axis: MatMul broadcasts W [T, T] over the batch.</summary>
    private static string TokenMixing(NetworkGraphWriter net, string x, string prefix)
        => net.Add(net.Graph.Op("MatMul", [net.Weight(prefix + ".weight"), x]), net.Weight(prefix + ".bias"));

    private static string MultiHeadTokenMixing(NetworkGraphWriter net, string x, string prefix, TabularModelShape shape)
    {
        long t = shape.SequenceLength, heads = shape.Heads, headWidth = shape.Width / shape.Heads;
        var perHead = net.Transpose(net.Reshape(net.Linear(x, prefix + ".inProjection"), 0, t, heads, headWidth), 0, 2, 1, 3); // [B, H, T, C]
        var mixed = net.Add(net.Graph.Op("MatMul", [net.Weight(prefix + ".weight"), perHead]), net.Weight(prefix + ".bias"));
        return net.Linear(net.Reshape(net.Transpose(mixed, 0, 2, 1, 3), 0, t, shape.Width), prefix + ".outProjection");
    }

    private static string Mlp(NetworkGraphWriter net, string h, TabularModelShape shape)
    {
        h = net.Reshape(h, 0, (long)shape.SequenceLength * shape.Width);
        for (int i = 0; i < shape.Depth; i++)
            h = net.Graph.Op("Relu", [net.Linear(h, $"hidden.{i}")]);
        return net.Linear(h, "head");
    }

    private static string Transformer(NetworkGraphWriter net, string h, TabularModelShape shape)
    {
        long t = shape.SequenceLength, heads = shape.Heads, headWidth = shape.Width / shape.Heads;
        var graph = net.Graph;
        h = net.Add(h, net.Weight("positionEmbedding"));
        for (int b = 0; b < shape.Depth; b++)
        {
            string block = $"blocks.{b}";
            var normed = net.LayerNorm(h, $"{block}.attentionNorm");
            // [B, T, 3D] -> [3, B, H, T, C]
            var qkv = net.Transpose(net.Reshape(net.Linear(normed, $"{block}.attention.queryKeyValue"), 0, t, 3, heads, headWidth), 2, 0, 3, 1, 4);
            string Part(long i) => graph.Op("Gather", [qkv, graph.Int64Scalar(i)], OnnxAttribute.Of("axis", 0L));
            var scores = graph.Op("Mul", [graph.Op("MatMul", [Part(0), net.Transpose(Part(1), 0, 1, 3, 2)]), graph.FloatScalar((float)(1 / Math.Sqrt(headWidth)))]);
            var weights = graph.Op("Softmax", [scores], OnnxAttribute.Of("axis", -1L));
            var attended = net.Reshape(net.Transpose(graph.Op("MatMul", [weights, Part(2)]), 0, 2, 1, 3), 0, t, shape.Width);
            h = net.Add(h, net.Linear(attended, $"{block}.attention.output"));
            h = net.Add(h, net.ChannelMlp(h, block, norm: "mlpNorm"));
        }
        return net.Linear(net.Reshape(net.LayerNorm(h, "finalNorm"), 0, t * shape.Width), "head");
    }

    /// <summary>Raw outputs [batch, outputs] -> the prediction outputs ML.NET's scorers give.</summary>
    private static void WriteOutputs(OnnxGraph graph, string raw, MixerPredictionTransformer model)
    {
        switch (model.Task)
        {
            case MixerTask.BinaryClassification:
                graph.Output(raw, ScoreName, OnnxElementType.Float, "batch", 1L);
                graph.Output(graph.Op("Sigmoid", [raw]), ProbabilityName, OnnxElementType.Float, "batch", 1L);
                graph.Output(graph.Op("Greater", [raw, graph.FloatScalar(0f)]), PredictedLabelName, OnnxElementType.Bool, "batch", 1L);
                break;
            case MixerTask.MulticlassClassification:
                graph.Output(graph.Op("Softmax", [raw], OnnxAttribute.Of("axis", 1L)), ScoreName, OnnxElementType.Float, "batch", (long)model.ClassCount);
                graph.Output(graph.Op("ArgMax", [raw], OnnxAttribute.Of("axis", 1L), OnnxAttribute.Of("keepdims", 1L)), PredictedLabelName, OnnxElementType.Int64, "batch", 1L);
                break;
            default:
                var (mean, std) = model.TargetScaling;
                graph.Output(graph.Op("Add", [graph.Op("Mul", [raw, graph.FloatScalar((float)std)]), graph.FloatScalar((float)mean)]),
                             ScoreName, OnnxElementType.Float, "batch", 1L);
                break;
        }
    }
}
