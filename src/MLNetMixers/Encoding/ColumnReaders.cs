using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Encoding;

/// <summary>
/// Receives one field's value per row: the fit-time statistics and the transform-time encoders both derive from it.
/// Each method's destination is the field's slice of the row's token ids (empty when fitting).
/// </summary>
internal abstract class FieldVisitor
{
    public virtual void OnDouble(double value, Span<int> destination) => throw Unexpected("Double");
    public virtual void OnSingle(float value, Span<int> destination) => OnDouble(value, destination);
    public virtual void OnInt64(long value, Span<int> destination) => throw Unexpected("integer");
    public virtual void OnUInt64(ulong value, Span<int> destination) => throw Unexpected("unsigned integer");
    public virtual void OnBoolean(bool value, Span<int> destination) => throw Unexpected("Boolean");
    public virtual void OnText(ReadOnlyMemory<char> value, Span<int> destination) => throw Unexpected("Text");
    public virtual void OnDateTime(DateTime value, Span<int> destination) => throw Unexpected("DateTime");
    public virtual void OnDateTimeOffset(DateTimeOffset value, Span<int> destination) => throw Unexpected("DateTimeOffset");

    /// <summary>A raw key value: 0 is ML.NET's missing key, k is the (k-1)-th category.</summary>
    public virtual void OnKey(ulong value, Span<int> destination) => throw Unexpected("key");

    private Exception Unexpected(string what) => new InvalidOperationException($"{GetType().Name} cannot read a {what} value.");
}

/// <summary>Reads one input column of the current row and hands each of its fields to that field's visitor.</summary>
internal abstract class ColumnReader
{
    /// <summary>Reads the current row. <paramref name="row"/> is the whole row's token ids, or empty when fitting.</summary>
    public abstract void Read(Span<int> row);

    /// <param name="row">The row (cursor) to read.</param>
    /// <param name="input">The fitted description of the column.</param>
    /// <param name="visitors">One per field of the column (one for a scalar); null skips an excluded slot.</param>
    /// <param name="starts">Start position of each field in the row (ignored when fitting).</param>
    /// <param name="widths">Width of each field (0 when fitting).</param>
    public static ColumnReader Create(DataViewRow row, InputColumn input, FieldVisitor?[] visitors, int[] starts, int[] widths)
    {
        var column = row.Schema[input.Name];
        var raw = input.Kind == InputKind.Key ? input.KeyRawKind : input.Kind;
        bool key = input.Kind == InputKind.Key;
        return raw switch
        {
            InputKind.Single => Make<float>(),
            InputKind.Double => Make<double>(),
            InputKind.SByte => Make<sbyte>(),
            InputKind.Byte => Make<byte>(),
            InputKind.Int16 => Make<short>(),
            InputKind.UInt16 => Make<ushort>(),
            InputKind.Int32 => Make<int>(),
            InputKind.UInt32 => Make<uint>(),
            InputKind.Int64 => Make<long>(),
            InputKind.UInt64 => Make<ulong>(),
            InputKind.Boolean => Make<bool>(),
            InputKind.Text => Make<ReadOnlyMemory<char>>(),
            InputKind.DateTime => Make<DateTime>(),
            InputKind.DateTimeOffset => Make<DateTimeOffset>(),
            _ => throw new InvalidOperationException($"Unexpected input kind {raw} of column '{input.Name}'."),
        };

        ColumnReader Make<T>() => input.IsVector
            ? new VectorReader<T>(row.GetGetter<VBuffer<T>>(column), key, visitors, starts, widths)
            : new ScalarReader<T>(row.GetGetter<T>(column), key, visitors[0], starts[0], widths[0]);
    }

    /// <summary>Calls the visitor method for T; the type tests fold away when the JIT specialises T.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void Visit<T>(FieldVisitor visitor, ref T value, bool key, Span<int> destination)
    {
        if (typeof(T) == typeof(float)) visitor.OnSingle(Unsafe.As<T, float>(ref value), destination);
        else if (typeof(T) == typeof(double)) visitor.OnDouble(Unsafe.As<T, double>(ref value), destination);
        else if (typeof(T) == typeof(sbyte)) visitor.OnInt64(Unsafe.As<T, sbyte>(ref value), destination);
        else if (typeof(T) == typeof(short)) visitor.OnInt64(Unsafe.As<T, short>(ref value), destination);
        else if (typeof(T) == typeof(int)) visitor.OnInt64(Unsafe.As<T, int>(ref value), destination);
        else if (typeof(T) == typeof(long)) visitor.OnInt64(Unsafe.As<T, long>(ref value), destination);
        else if (typeof(T) == typeof(byte)) Unsigned(visitor, Unsafe.As<T, byte>(ref value), key, destination);
        else if (typeof(T) == typeof(ushort)) Unsigned(visitor, Unsafe.As<T, ushort>(ref value), key, destination);
        else if (typeof(T) == typeof(uint)) Unsigned(visitor, Unsafe.As<T, uint>(ref value), key, destination);
        else if (typeof(T) == typeof(ulong)) Unsigned(visitor, Unsafe.As<T, ulong>(ref value), key, destination);
        else if (typeof(T) == typeof(bool)) visitor.OnBoolean(Unsafe.As<T, bool>(ref value), destination);
        else if (typeof(T) == typeof(ReadOnlyMemory<char>)) visitor.OnText(Unsafe.As<T, ReadOnlyMemory<char>>(ref value), destination);
        else if (typeof(T) == typeof(DateTime)) visitor.OnDateTime(Unsafe.As<T, DateTime>(ref value), destination);
        else if (typeof(T) == typeof(DateTimeOffset)) visitor.OnDateTimeOffset(Unsafe.As<T, DateTimeOffset>(ref value), destination);
        else throw new InvalidOperationException($"Unexpected item type {typeof(T)}.");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unsigned(FieldVisitor visitor, ulong value, bool key, Span<int> destination)
    {
        if (key)
            visitor.OnKey(value, destination);
        else
            visitor.OnUInt64(value, destination);
    }

    private sealed class ScalarReader<T> : ColumnReader
    {
        private readonly ValueGetter<T> getter;
        private readonly bool key;
        private readonly FieldVisitor? visitor;
        private readonly int start;
        private readonly int width;
        private T value = default!;

        public ScalarReader(ValueGetter<T> getter, bool key, FieldVisitor? visitor, int start, int width)
        {
            this.getter = getter;
            this.key = key;
            this.visitor = visitor;
            this.start = start;
            this.width = width;
        }

        public override void Read(Span<int> row)
        {
            if (visitor is null)
                return;
            getter(ref value);
            Visit(visitor, ref value, key, row.Slice(start, width));
        }
    }

    private sealed class VectorReader<T> : ColumnReader
    {
        private readonly ValueGetter<VBuffer<T>> getter;
        private readonly bool key;
        private readonly FieldVisitor?[] visitors;
        private readonly int[] starts;
        private readonly int[] widths;
        private VBuffer<T> buffer;

        public VectorReader(ValueGetter<VBuffer<T>> getter, bool key, FieldVisitor?[] visitors, int[] starts, int[] widths)
        {
            this.getter = getter;
            this.key = key;
            this.visitors = visitors;
            this.starts = starts;
            this.widths = widths;
        }

        public override void Read(Span<int> row)
        {
            getter(ref buffer);
            var values = buffer.GetValues();
            if (buffer.IsDense)
            {
                for (int slot = 0; slot < visitors.Length; slot++)
                    VisitSlot(slot, ref Unsafe.AsRef(in values[slot]), row);
                return;
            }
            // Sparse: slots not listed hold the default value (0, false, empty text).
            var indices = buffer.GetIndices();
            T zero = default!;
            int next = 0;
            for (int slot = 0; slot < visitors.Length; slot++)
            {
                if (next < indices.Length && indices[next] == slot)
                    VisitSlot(slot, ref Unsafe.AsRef(in values[next++]), row);
                else
                {
                    zero = default!;
                    VisitSlot(slot, ref zero, row);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void VisitSlot(int slot, ref T value, Span<int> row)
        {
            var visitor = visitors[slot];
            if (visitor is not null)
                Visit(visitor, ref value, key, row.Slice(starts[slot], widths[slot]));
        }
    }
}
