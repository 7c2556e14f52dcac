using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers;

/// <summary>
/// The input's columns plus columns computed by a network over the encoded features. Running the network once per row
/// is slow, so a cursor serves rows through a main cursor while a look-ahead cursor over the same input reads the
/// features a batch of rows ahead; the batch's results then serve the appended columns row by row.
/// </summary>
/// <typeparam name="TBatch">The network's results for one batch of rows.</typeparam>
internal abstract class ReadAheadBatchDataView<TBatch> : IDataView
    where TBatch : class
{
    private readonly IDataView input;
    private readonly int featureColumn;
    private readonly int batchSize;
    private readonly int sequenceLength;
    private readonly string fewerRowsMessage;

    /// <param name="input">The data whose rows are served and whose features are read ahead.</param>
    /// <param name="featureColumn">Index in <paramref name="input"/> of the key-typed encoded column.</param>
    /// <param name="schema">The input's schema with the appended columns after the input's.</param>
    /// <param name="batchSize">Rows per network run.</param>
    /// <param name="sequenceLength">Tokens per row.</param>
    /// <param name="fewerRowsMessage">The error when the look-ahead pass runs out of rows before the main one.</param>
    protected ReadAheadBatchDataView(IDataView input, int featureColumn, DataViewSchema schema, int batchSize, int sequenceLength, string fewerRowsMessage)
    {
        this.input = input;
        this.featureColumn = featureColumn;
        this.batchSize = batchSize;
        this.sequenceLength = sequenceLength;
        this.fewerRowsMessage = fewerRowsMessage;
        Schema = schema;
    }

    public DataViewSchema Schema { get; }

    /// <summary>Batches need the two cursors to see rows in the same order, so rows are never shuffled here.</summary>
    public bool CanShuffle => false;

    public long? GetRowCount() => input.GetRowCount();

    private int InputColumnCount => input.Schema.Count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        var appendedActive = new bool[Schema.Count - InputColumnCount];
        for (int i = 0; i < appendedActive.Length; i++)
            appendedActive[i] = needed.Contains(InputColumnCount + i);
        var main = input.GetRowCursor(input.Schema.Where(c => needed.Contains(c.Index)));
        // Without an appended column requested there is nothing to compute, so no network runs at all.
        var lookAhead = appendedActive.Contains(true) ? input.GetRowCursor([input.Schema[featureColumn]]) : null;
        return new Cursor(this, main, lookAhead, appendedActive);
    }

    /// <summary>One cursor: splitting rows between cursors would split the batches too.</summary>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    /// <summary>
    /// Writes one row's token ids (key - 1), throwing a clear error, naming position <paramref name="row"/>, on a row
    /// the network cannot read.
    /// </summary>
    protected abstract void ReadTokenIds(in VBuffer<uint> keys, Span<long> destination, long row);

    /// <summary>Runs the network over the first <paramref name="rows"/> rows of <paramref name="tokenIds"/> (row-major).</summary>
    protected abstract TBatch ComputeBatch(long[] tokenIds, int rows);

    /// <summary>
    /// A getter per appended column, in schema order, reading <see cref="Cursor.CurrentBatch"/> at
    /// <see cref="Cursor.RowInBatch"/>; inactive columns may be null.
    /// </summary>
    protected abstract Delegate?[] MakeAppendedGetters(Func<int, bool> isActive, Cursor cursor);

    internal sealed class Cursor : DataViewRowCursor
    {
        private readonly ReadAheadBatchDataView<TBatch> view;
        private readonly DataViewRowCursor main;
        private readonly DataViewRowCursor? lookAhead;
        private readonly ValueGetter<VBuffer<uint>>? getFeatures;
        private readonly bool[] appendedActive;
        private readonly Delegate?[] appendedGetters;
        private readonly long[] batchTokens;
        private VBuffer<uint> keys;
        private TBatch? batch;
        private int batchRows;
        private int rowInBatch;
        private bool disposed;

        public Cursor(ReadAheadBatchDataView<TBatch> view, DataViewRowCursor main, DataViewRowCursor? lookAhead, bool[] appendedActive)
        {
            this.view = view;
            this.main = main;
            this.lookAhead = lookAhead;
            this.appendedActive = appendedActive;
            batchTokens = lookAhead is null ? [] : new long[view.batchSize * view.sequenceLength];
            getFeatures = lookAhead?.GetGetter<VBuffer<uint>>(lookAhead.Schema[view.featureColumn]);
            appendedGetters = view.MakeAppendedGetters(i => appendedActive[i], this);
        }

        /// <summary>The results of the batch holding the current row.</summary>
        public TBatch CurrentBatch => batch ?? throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");

        /// <summary>The current row's index within <see cref="CurrentBatch"/>.</summary>
        public int RowInBatch => rowInBatch;

        public override DataViewSchema Schema => view.Schema;

        public override long Position => main.Position;

        public override long Batch => main.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => main.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column)
            => column.Index < view.InputColumnCount ? main.IsColumnActive(view.input.Schema[column.Index]) : appendedActive[column.Index - view.InputColumnCount];

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < view.InputColumnCount)
                return main.GetGetter<TValue>(view.input.Schema[column.Index]);
            int appended = column.Index - view.InputColumnCount;
            if (!appendedActive[appended])
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            return appendedGetters[appended] as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}; it cannot be read as {typeof(TValue).Name}.");
        }

        public override bool MoveNext()
        {
            if (disposed || !main.MoveNext())
                return false;
            if (lookAhead is not null && ++rowInBatch >= batchRows)
                ReadNextBatch();
            return true;
        }

        private void ReadNextBatch()
        {
            int length = view.sequenceLength;
            batchRows = 0;
            rowInBatch = 0;
            while (batchRows < view.batchSize && lookAhead!.MoveNext())
            {
                getFeatures!(ref keys);
                view.ReadTokenIds(keys, batchTokens.AsSpan(batchRows * length, length), lookAhead.Position);
                batchRows++;
            }
            // The main cursor has a row the look-ahead cursor did not: the input is not repeatable.
            if (batchRows == 0)
                throw new InvalidOperationException(view.fewerRowsMessage);
            batch = view.ComputeBatch(batchTokens, batchRows);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposed)
                return;
            if (disposing)
            {
                main.Dispose();
                lookAhead?.Dispose();
            }
            disposed = true;
            base.Dispose(disposing);
        }
    }
}
