using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Onnx;

/// <summary>
/// Writes a TorchSharp network's layers as ONNX nodes, reading weights from its state dict by parameter name
/// ("blocks.0.expand.weight"): the names are the models' persisted layout, which old model zips already fix, so
/// keying on them keeps the exporter independent of how the module classes are arranged in code.
/// </summary>
internal sealed class NetworkGraphWriter
{
    private readonly Dictionary<string, Tensor> parameters;

    public NetworkGraphWriter(OnnxGraph graph, nn.Module network)
    {
        Graph = graph;
        parameters = network.state_dict().ToDictionary(p => p.Key, p => p.Value);
    }

    public OnnxGraph Graph { get; }

    public bool Has(string name) => parameters.ContainsKey(name);

    /// <summary>A parameter as float32 values in row-major order, with its shape.</summary>
    public (float[] Values, long[] Shape) Read(string name)
    {
        if (!parameters.TryGetValue(name, out var tensor))
            throw new NotSupportedException(
                $"The network has no parameter '{name}'; the ONNX exporter knows the layouts this version of MLNetMixers trains. " +
                $"Parameters found: {string.Join(", ", parameters.Keys.Take(12))}{(parameters.Count > 12 ? ", ..." : "")}.");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var values = tensor.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        return (values, tensor.shape);
    }

    /// <summary>A parameter as an initializer, unchanged.</summary>
    public string Weight(string name)
    {
        var (values, shape) = Read(name);
        return Graph.Weight(name, values, shape);
    }

    /// <summary>A [rows, columns] matrix parameter transposed to [columns, rows] (a Linear weight for x · Wᵀ).</summary>
    public string TransposedWeight(string name)
    {
        var (values, shape) = Read(name);
        if (shape.Length != 2)
            throw new NotSupportedException($"Parameter '{name}' has shape [{string.Join(", ", shape)}]; a matrix was expected.");
        long rows = shape[0], columns = shape[1];
        var transposed = new float[values.Length];
        for (long r = 0; r < rows; r++)
        {
            for (long c = 0; c < columns; c++)
                transposed[c * rows + r] = values[r * columns + c];
        }
        return Graph.Weight(name + ".T", transposed, columns, rows);
    }

    /// <summary>torch.nn.Linear over the last axis: x · Wᵀ + b.</summary>
    public string Linear(string x, string prefix)
    {
        var product = Graph.Op("MatMul", [x, TransposedWeight(prefix + ".weight")]);
        return Has(prefix + ".bias") ? Graph.Op("Add", [product, Weight(prefix + ".bias")]) : product;
    }

    /// <summary>torch.nn.LayerNorm over the last axis (ONNX LayerNormalization, opset 17).</summary>
    public string LayerNorm(string x, string prefix, double epsilon = 1e-5)
        => Graph.Op("LayerNormalization", [x, Weight(prefix + ".weight"), Weight(prefix + ".bias")],
                    OnnxAttribute.Of("axis", -1L), OnnxAttribute.Of("epsilon", (float)epsilon));

    /// <summary>RMSNorm over the last axis: x / sqrt(mean(x²) + ε) · g (Llama's; opset 17 has no RMSNormalization).</summary>
    public string RmsNorm(string x, string prefix, double epsilon = 1e-6)
    {
        var meanSquare = Graph.Op("ReduceMean", [Graph.Op("Mul", [x, x])], OnnxAttribute.Of("axes", [-1L]), OnnxAttribute.Of("keepdims", 1L));
        var scale = Graph.Op("Reciprocal", [Graph.Op("Sqrt", [Graph.Op("Add", [meanSquare, Graph.FloatScalar((float)epsilon)])])]);
        return Graph.Op("Mul", [Graph.Op("Mul", [x, scale]), Weight(prefix + ".weight")]);
    }

    /// <summary>
    /// The exact GELU, x · Φ(x) = x/2 · (1 + erf(x/√2)), from standard operators (ONNX's Gelu op needs opset 20). Written
    /// as Div by √2, the form ONNX Runtime's GeluFusion recognises (a Mul by 1/√2 is not), so it runs as one Gelu kernel
    /// (and BiasGelu with the Linear's bias) instead of five element-wise passes.
    /// </summary>
    public string Gelu(string x)
    {
        var erf = Graph.Op("Erf", [Graph.Op("Div", [x, Graph.FloatScalar((float)Math.Sqrt(2))])]);
        var half = Graph.Op("Mul", [x, Graph.FloatScalar(0.5f)]);
        return Graph.Op("Mul", [half, Graph.Op("Add", [erf, Graph.FloatScalar(1f)])]);
    }

    /// <summary>The channel MLP of a block: contract(GELU(expand(LayerNorm(x)))).</summary>
    public string ChannelMlp(string x, string block, string norm = "channelNorm")
        => Linear(Gelu(Linear(LayerNorm(x, $"{block}.{norm}"), $"{block}.expand")), $"{block}.contract");

    /// <summary>[B, T, D] -> [B, H, T, D/H] after the <paramref name="projection"/> Linear (multi-head mixers).</summary>
    public string SplitHeads(string x, string projection, long heads, long headWidth)
        => Transpose(Reshape(Linear(x, projection), 0, 0, heads, headWidth), 0, 2, 1, 3);

    /// <summary>[B, H, T, C] -> [B, T, H·C] -> the <paramref name="projection"/> Linear.</summary>
    public string MergeHeads(string x, string projection, long width)
        => Linear(Reshape(Transpose(x, 0, 2, 1, 3), 0, 0, width), projection);

    /// <summary>Self-attention's query, key and value, each [B, H, T, C]: the projection split in three, then into heads.</summary>
    public string[] QueryKeyValue(string x, string prefix, long heads, long headWidth)
    {
        var qkv = Transpose(Reshape(Linear(x, prefix + ".queryKeyValue"), 0, 0, 3, heads, headWidth), 2, 0, 3, 1, 4); // [3, B, H, T, C]
        return [.. Enumerable.Range(0, 3).Select(i => Graph.Op("Gather", [qkv, Graph.Int64Scalar(i)], OnnxAttribute.Of("axis", 0L)))];
    }

    /// <summary>softmax(Q Kᵀ / √C (+ <paramref name="mask"/>)) V, heads merged and projected by <c>outProjection</c>.</summary>
    public string Attend(string q, string k, string v, string? mask, string prefix, long headWidth, long width)
    {
        var scores = Graph.Op("Mul", [Graph.Op("MatMul", [q, Transpose(k, 0, 1, 3, 2)]), Graph.FloatScalar((float)(1 / Math.Sqrt(headWidth)))]);
        var weights = Graph.Op("Softmax", [mask is null ? scores : Add(scores, mask)], OnnxAttribute.Of("axis", -1L));
        return MergeHeads(Graph.Op("MatMul", [weights, v]), prefix + ".outProjection", width);
    }

    public string Add(string a, string b) => Graph.Op("Add", [a, b]);

    /// <summary>Reshape with 0 meaning "this dimension of the input" (ONNX's default), e.g. [0, T, H, C].</summary>
    public string Reshape(string x, params long[] shape) => Graph.Op("Reshape", [x, Graph.Int64s(shape)]);

    public string Transpose(string x, params long[] permutation) => Graph.Op("Transpose", [x], OnnxAttribute.Of("perm", permutation));
}
