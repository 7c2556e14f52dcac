using System.Runtime.InteropServices;

namespace MLNetMixers.Onnx;

/// <summary>ONNX tensor element types used by the exported graphs (TensorProto.DataType).</summary>
internal enum OnnxElementType
{
    Float = 1,
    Int64 = 7,
    Bool = 9,
}

/// <summary>
/// A small builder for one ONNX graph of standard operators (default domain, opset <see cref="Opset"/>): inputs and
/// outputs with symbolic or fixed dimensions, float and int64 initializers, and nodes whose outputs get fresh names.
/// <see cref="ToModel"/> gives the serialized ModelProto.
/// </summary>
internal sealed class OnnxGraph
{
    /// <summary>Opset 17: the first with LayerNormalization; ONNX Runtime 1.14 and later run it.</summary>
    public const int Opset = 17;

    /// <summary>IR version 8 goes with opset 17.</summary>
    private const int IrVersion = 8;

    private readonly List<Action<OnnxProtoWriter>> nodes = [];
    private readonly List<Action<OnnxProtoWriter>> initializers = [];
    private readonly List<Action<OnnxProtoWriter>> inputs = [];
    private readonly List<Action<OnnxProtoWriter>> outputs = [];
    private readonly Dictionary<string, string> constants = [];
    private readonly HashSet<string> names = [];
    private int counter;

    public OnnxGraph(string name) => Name = name;

    public string Name { get; }

    /// <summary>Declares a graph input; a dimension is a long (fixed) or a string (symbolic, e.g. "batch").</summary>
    public string Input(string name, OnnxElementType type, params object[] dims)
    {
        Claim(name);
        inputs.Add(w => WriteValueInfo(w, name, type, dims));
        return name;
    }

    /// <summary>Makes <paramref name="value"/> a graph output called <paramref name="name"/> (an Identity node renames it).</summary>
    public string Output(string value, string name, OnnxElementType type, params object[] dims)
    {
        Claim(name);
        AddNode("Identity", [value], [name], []);
        outputs.Add(w => WriteValueInfo(w, name, type, dims));
        return name;
    }

    /// <summary>A float32 initializer (a weight), stored as raw little-endian data.</summary>
    public string Weight(string hint, float[] values, params long[] dims)
    {
        if (values.Length != dims.Aggregate(1L, (a, b) => a * b))
            throw new ArgumentException($"Initializer '{hint}' has {values.Length} values for shape [{string.Join(", ", dims)}].", nameof(values));
        string name = Fresh(hint);
        byte[] raw = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian.");
        initializers.Add(w => WriteTensor(w, name, OnnxElementType.Float, dims, raw));
        return name;
    }

    /// <summary>An int64 constant initializer (shapes, axes, indices), shared between nodes that use the same values.</summary>
    public string Int64s(long[] values, params long[] dims)
    {
        string key = $"i64[{string.Join(",", dims)}]:{string.Join(",", values)}";
        if (constants.TryGetValue(key, out var existing))
            return existing;
        string name = Fresh("const");
        byte[] raw = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        initializers.Add(w => WriteTensor(w, name, OnnxElementType.Int64, dims, raw));
        constants[key] = name;
        return name;
    }

    /// <summary>A 1-D int64 constant.</summary>
    public string Int64s(params long[] values) => Int64s(values, values.Length);

    /// <summary>A scalar (0-D) int64 constant.</summary>
    public string Int64Scalar(long value) => Int64s([value], []);

    /// <summary>A scalar (0-D) float32 constant.</summary>
    public string FloatScalar(float value)
    {
        string key = $"f32:{BitConverter.SingleToInt32Bits(value)}";
        if (constants.TryGetValue(key, out var existing))
            return existing;
        string name = Fresh("const");
        byte[] raw = BitConverter.GetBytes(value);
        initializers.Add(w => WriteTensor(w, name, OnnxElementType.Float, [], raw));
        constants[key] = name;
        return name;
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Op(string opType, string[] opInputs, params OnnxAttribute[] attributes)
        => Op(opType, opInputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputCount"/> outputs and returns their names.</summary>
    public string[] Op(string opType, string[] opInputs, int outputCount, params OnnxAttribute[] attributes)
    {
        var outs = Enumerable.Range(0, outputCount).Select(_ => Fresh(opType)).ToArray();
        AddNode(opType, opInputs, outs, attributes);
        return outs;
    }

    /// <summary>The serialized ModelProto, with <paramref name="metadata"/> as its metadata_props.</summary>
    public byte[] ToModel(IReadOnlyDictionary<string, string>? metadata = null, string? docString = null)
    {
        var model = new OnnxProtoWriter()
            .Varint(1, IrVersion)
            .String(2, "MLNetMixers")
            .String(3, typeof(OnnxGraph).Assembly.GetName().Version?.ToString() ?? "")
            .String(4, "mlnetmixers");
        if (docString is not null)
            model.String(6, docString);
        model.Message(7, WriteGraph)
             .Message(8, w => w.String(1, "").Varint(2, Opset));
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            model.Message(14, w => w.String(1, key).String(2, value));
        return model.ToArray();
    }

    private void WriteGraph(OnnxProtoWriter w)
    {
        foreach (var node in nodes)
            w.Message(1, node);
        w.String(2, Name);
        foreach (var initializer in initializers)
            w.Message(5, initializer);
        foreach (var input in inputs)
            w.Message(11, input);
        foreach (var output in outputs)
            w.Message(12, output);
    }

    private void AddNode(string opType, string[] opInputs, string[] opOutputs, OnnxAttribute[] attributes)
    {
        string nodeName = Fresh("node_" + opType);
        nodes.Add(w =>
        {
            foreach (var input in opInputs)
                w.String(1, input);
            foreach (var output in opOutputs)
                w.String(2, output);
            w.String(3, nodeName).String(4, opType);
            foreach (var attribute in attributes)
                w.Message(5, attribute.Write);
        });
    }

    private string Fresh(string hint)
    {
        string name;
        do
            name = $"{hint}_{counter++}";
        while (!names.Add(name));
        return name;
    }

    private void Claim(string name)
    {
        if (!names.Add(name))
            throw new ArgumentException($"The graph already has a value called '{name}'.", nameof(name));
    }

    private static void WriteTensor(OnnxProtoWriter w, string name, OnnxElementType type, long[] dims, byte[] raw)
    {
        foreach (long dim in dims)
            w.Varint(1, dim);
        w.Varint(2, (int)type).String(8, name).Bytes(9, raw);
    }

    private static void WriteValueInfo(OnnxProtoWriter w, string name, OnnxElementType type, object[] dims)
    {
        w.String(1, name);
        // TypeProto.tensor_type { elem_type, shape { dim { dim_value | dim_param } } }
        w.Message(2, t => t.Message(1, tensor =>
        {
            tensor.Varint(1, (int)type);
            tensor.Message(2, shape =>
            {
                foreach (var dim in dims)
                {
                    shape.Message(1, d =>
                    {
                        if (dim is string symbol)
                            d.String(2, symbol);
                        else
                            d.Varint(1, Convert.ToInt64(dim));
                    });
                }
            });
        }));
    }
}

/// <summary>A node attribute (AttributeProto) of type INT, FLOAT or INTS.</summary>
internal readonly record struct OnnxAttribute(string Name, long? Int = null, float? Float = null, long[]? Ints = null)
{
    public static OnnxAttribute Of(string name, long value) => new(name, Int: value);

    public static OnnxAttribute Of(string name, float value) => new(name, Float: value);

    public static OnnxAttribute Of(string name, params long[] values) => new(name, Ints: values);

    internal void Write(OnnxProtoWriter w)
    {
        w.String(1, Name);
        if (Int is long i)
            w.Varint(3, i).Varint(20, 2);
        else if (Float is float f)
            w.Float(2, f).Varint(20, 1);
        else
        {
            foreach (long v in Ints!)
                w.Varint(8, v);
            w.Varint(20, 7);
        }
    }
}
