using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace MLNetMixers.Training;

/// <summary>
/// Encoded rows and their labels held for training: token ids in ONE compact tensor [rows, T] (uint8 when the
/// vocabulary fits a byte, int16 when it fits a short, int32 otherwise), widened to int64 per batch, so memory is
/// proportional to the number of tokens. Labels are one float per row (a class index for multiclass).
/// </summary>
internal sealed class EncodedRows : IDisposable
{
    private EncodedRows(Tensor tokens, float[] labels)
    {
        Tokens = tokens;
        Labels = labels;
    }

    /// <summary>Token ids [rows, T] in a compact integer type, on the CPU.</summary>
    public Tensor Tokens { get; }

    /// <summary>One label per row: 0/1 (binary), a 0-based class index (multiclass) or the target (regression).</summary>
    public float[] Labels { get; }

    public int Count => Labels.Length;

    public int SequenceLength => (int)Tokens.shape[1];

    /// <summary>The compact element type able to hold every token id below <paramref name="vocabularySize"/>.</summary>
    public static ScalarType CompactType(int vocabularySize)
        => vocabularySize <= byte.MaxValue + 1 ? ScalarType.Byte : vocabularySize <= short.MaxValue + 1 ? ScalarType.Int16 : ScalarType.Int32;

    /// <summary>
    /// Streams <paramref name="data"/> with one cursor: the feature column's keys become token ids (key - 1), and
    /// <paramref name="labelReader"/> turns the current row's label into a float (NaN when missing).
    /// </summary>
    public static EncodedRows Read(IHost host, IDataView data, string featureColumn, int sequenceLength, int vocabularySize,
        string labelColumn, Func<DataViewRow, Func<float>> labelReader)
    {
        var features = data.Schema[featureColumn];
        var label = data.Schema[labelColumn];
        var type = CompactType(vocabularySize);
        var bytes = new GrowableBuffer(type switch { ScalarType.Byte => 1, ScalarType.Int16 => 2, _ => 4 }, sequenceLength);
        var labels = new List<float>();

        using (var cursor = data.GetRowCursor([features, label]))
        {
            var getFeatures = cursor.GetGetter<VBuffer<uint>>(features);
            var readLabel = labelReader(cursor);
            VBuffer<uint> keys = default;
            var row = new int[sequenceLength];
            while (cursor.MoveNext())
            {
                getFeatures(ref keys);
                if (keys.Length != sequenceLength)
                    throw host.Except($"Row {cursor.Position} of column '{featureColumn}' has {keys.Length} tokens; the column declares {sequenceLength}.");
                keys.CopyTo(MemoryMarshalSpan(row));
                for (int i = 0; i < row.Length; i++)
                {
                    // Keys are token id + 1; key 0 is ML.NET's missing key, which the encoder never writes.
                    int id = row[i] - 1;
                    if (id < 0 || id >= vocabularySize)
                        throw host.Except($"Row {cursor.Position}, slot {i} of column '{featureColumn}' holds key {(uint)row[i]}, outside 1..{vocabularySize}: " +
                                          "the features must come from EncodeAsCharacters (a missing key has no token).");
                    row[i] = id;
                }
                bytes.Append(row);
                labels.Add(readLabel());
            }
        }
        return new EncodedRows(bytes.ToTensor(type, labels.Count, sequenceLength), labels.ToArray());
    }

    private static Span<uint> MemoryMarshalSpan(int[] row) => System.Runtime.InteropServices.MemoryMarshal.Cast<int, uint>(row.AsSpan());

    public void Dispose() => Tokens.Dispose();

    /// <summary>Rows of tokens appended as 1, 2 or 4 bytes per token; grows by doubling.</summary>
    private sealed class GrowableBuffer
    {
        private readonly int bytesPerToken;
        private readonly int rowBytes;
        private byte[] buffer;
        private long length;

        public GrowableBuffer(int bytesPerToken, int sequenceLength)
        {
            this.bytesPerToken = bytesPerToken;
            rowBytes = bytesPerToken * sequenceLength;
            buffer = new byte[Math.Max(rowBytes * 1024, 1)];
        }

        public void Append(int[] row)
        {
            if (length + rowBytes > buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(Array.MaxLength, Math.Max(buffer.LongLength * 2, length + rowBytes)));
            var target = buffer.AsSpan((int)length, rowBytes);
            switch (bytesPerToken)
            {
                case 1:
                    for (int i = 0; i < row.Length; i++) target[i] = (byte)row[i];
                    break;
                case 2:
                    var shorts = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(target);
                    for (int i = 0; i < row.Length; i++) shorts[i] = (short)row[i];
                    break;
                default:
                    row.AsSpan().CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(target));
                    break;
            }
            length += rowBytes;
        }

        public Tensor ToTensor(ScalarType type, int rows, int sequenceLength)
        {
            var bytes = buffer.AsSpan(0, (int)length);
            long[] shape = [rows, sequenceLength];
            // The bytes were written as the compact type (native little-endian), so they are reinterpreted, not converted.
            return type switch
            {
                ScalarType.Byte => tensor(bytes.ToArray(), shape),
                ScalarType.Int16 => tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(bytes).ToArray(), shape),
                _ => tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(bytes).ToArray(), shape),
            };
        }
    }
}
