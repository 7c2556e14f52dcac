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
            TabularArchitecture.Mlp => Mlp(net, h, shape),
            _ => MixerBlocks(net, h, shape), // the mixer, and the transformer baseline: mixer blocks with attention
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
    private static string Embed(NetworkGraphWriter net, string ids, TabularModelConfig shape)
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

    /// <summary>h + P, the blocks (x += Mix(LN(x)); x += MLP(LN(x))), then the head over flatten(LN(h)).</summary>
    private static string MixerBlocks(NetworkGraphWriter net, string h, TabularModelConfig shape)
    {
        h = net.Add(h, net.Weight("positionEmbedding"));
        if (shape.PositionsPerToken > 1)
        {
            // Wide rows: zero-pad to tokens·g positions, put g adjacent positions side by side, project to one token.
            long g = shape.PositionsPerToken, padding = (long)shape.MixedTokens * g - shape.SequenceLength;
            if (padding > 0)
                h = net.Graph.Op("Pad", [h, net.Graph.Int64s(0, 0, 0, 0, padding, 0)]);
            h = net.Linear(net.Reshape(h, 0, shape.MixedTokens, g * shape.Width), "grouping");
        }
        for (int b = 0; b < shape.Depth; b++)
        {
            string block = $"blocks.{b}";
            h = net.Add(h, TokenMixing(net, net.LayerNorm(h, $"{block}.tokenNorm"), $"{block}.tokenMixing", shape));
            h = net.Add(h, net.ChannelMlp(h, block));
        }
        var flat = net.Reshape(net.LayerNorm(h, "finalNorm"), 0, (long)shape.MixedTokens * shape.Width);
        if (shape.PositionsPerToken > 1)
            flat = net.Graph.Op("Mul", [flat, net.Graph.FloatScalar((float)TabularMixer.HeadScale(shape))]);
        return net.Linear(flat, "head");
    }

    /// <summary>The bidirectional token mixer, recognised by its weights: attention, one mixing matrix, or one per head.</summary>
    private static string TokenMixing(NetworkGraphWriter net, string x, string prefix, TabularModelConfig shape)
    {
        long heads = shape.Heads, headWidth = shape.Width / shape.Heads;
        if (net.Has(prefix + ".queryKeyValue.weight"))
        {
            var qkv = net.QueryKeyValue(x, prefix, heads, headWidth);
            return net.Attend(qkv[0], qkv[1], qkv[2], mask: null, prefix, headWidth, shape.Width);
        }
        // y = W · x + bias over the sequence axis: MatMul broadcasts W [T, T] (or [H, T, T] over the heads) over the batch.
        if (!net.Has(prefix + ".inProjection.weight"))
            return net.Add(net.Graph.Op("MatMul", [net.Weight(prefix + ".weight"), x]), net.Weight(prefix + ".bias"));
        var perHead = net.SplitHeads(x, prefix + ".inProjection", heads, headWidth);
        var mixed = net.Add(net.Graph.Op("MatMul", [net.Weight(prefix + ".weight"), perHead]), net.Weight(prefix + ".bias"));
        return net.MergeHeads(mixed, prefix + ".outProjection", shape.Width);
    }

    private static string Mlp(NetworkGraphWriter net, string h, TabularModelConfig shape)
    {
        h = net.Reshape(h, 0, (long)shape.SequenceLength * shape.Width);
        for (int i = 0; i < shape.Depth; i++)
            h = net.Graph.Op("Relu", [net.Linear(h, $"hidden.{i}")]);
        return net.Linear(h, "head");
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
