using System.Buffers.Binary;

namespace MLNetMixers.Onnx;

/// <summary>
/// Protocol-buffer encoding of the few ONNX messages an exported graph needs (onnx.proto: ModelProto, GraphProto,
/// NodeProto, AttributeProto, TensorProto, ValueInfoProto). Written by hand because the ONNX classes generated for .NET
/// ship only inside other packages' internals; the wire format is small and stable.
/// </summary>
internal sealed class OnnxProtoWriter
{
    private readonly MemoryStream stream = new();

    public byte[] ToArray() => stream.ToArray();

    public OnnxProtoWriter Varint(int field, long value)
    {
        Tag(field, 0);
        Raw((ulong)value);
        return this;
    }

    public OnnxProtoWriter Float(int field, float value)
    {
        Tag(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        stream.Write(bytes);
        return this;
    }

    public OnnxProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        Raw((ulong)value.Length);
        stream.Write(value);
        return this;
    }

    public OnnxProtoWriter String(int field, string value) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(value));

    public OnnxProtoWriter Message(int field, Action<OnnxProtoWriter> write)
    {
        var inner = new OnnxProtoWriter();
        write(inner);
        return Bytes(field, inner.stream.GetBuffer().AsSpan(0, (int)inner.stream.Length));
    }

    private void Tag(int field, int wireType) => Raw((ulong)((field << 3) | wireType));

    private void Raw(ulong value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        stream.WriteByte((byte)value);
    }
}
