using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers;

/// <summary>
/// The output of <see cref="MixerPredictionTransformer.Transform"/>: the input's columns plus the prediction columns.
/// Its cursor runs the network once per batch of rows: a look-ahead cursor over the input's feature column reads
/// the next batch while the main cursor, in lockstep, serves the input's columns and the batch's results.
/// </summary>
internal sealed class BatchScoringDataView : IDataView
{
    private readonly MixerPredictionTransformer parent;
    private readonly IDataView input;
    private readonly int featureIndex;
    private readonly int inputColumnCount;

    public BatchScoringDataView(MixerPredictionTransformer parent, IDataView input)
    {
        this.parent = parent;
        this.input = input;
        featureIndex = parent.CheckFeatureColumn(input.Schema);
        inputColumnCount = input.Schema.Count;
        Schema = parent.GetOutputSchema(input.Schema);
    }

    public DataViewSchema Schema { get; }

    /// <summary>Batches need the two cursors to see rows in the same order, so rows are never shuffled here.</summary>
    public bool CanShuffle => false;

    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        var outputActive = new bool[Schema.Count - inputColumnCount];
        for (int i = 0; i < outputActive.Length; i++)
            outputActive[i] = needed.Contains(inputColumnCount + i);
        var main = input.GetRowCursor(input.Schema.Where(c => needed.Contains(c.Index)));
        var lookAhead = outputActive.Any(a => a) ? input.GetRowCursor([input.Schema[featureIndex]]) : null;
        return new Cursor(this, main, lookAhead, outputActive);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly BatchScoringDataView view;
        private readonly DataViewRowCursor main;
        private readonly DataViewRowCursor? lookAhead;
        private readonly bool[] outputActive;
        private readonly Delegate[] outputGetters;
        private readonly ValueGetter<VBuffer<uint>>? getFeatures;
        private readonly long[] batchTokens;
        private readonly int outputs;
        private VBuffer<uint> keys;
        private float[] batchOutputs = [];
        private int batchRows;
        private int rowInBatch;
        private bool disposed;

        public Cursor(BatchScoringDataView view, DataViewRowCursor main, DataViewRowCursor? lookAhead, bool[] outputActive)
        {
            this.view = view;
            this.main = main;
            this.lookAhead = lookAhead;
            this.outputActive = outputActive;
            var parent = view.parent;
            outputs = parent.Shape.Outputs;
            batchTokens = lookAhead is null ? [] : new long[BatchSize * parent.SequenceLength];
            getFeatures = lookAhead?.GetGetter<VBuffer<uint>>(lookAhead.Schema[view.featureIndex]);
            outputGetters = parent.MakeOutputGetters(i => outputActive[i], () => batchOutputs.AsMemory(rowInBatch * outputs, outputs));
        }

        private static int BatchSize => MixerPredictionTransformer.ScoringBatchSize;

        public override DataViewSchema Schema => view.Schema;

        public override long Position => main.Position;

        public override long Batch => main.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => main.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column)
            => column.Index < view.inputColumnCount ? main.IsColumnActive(view.input.Schema[column.Index]) : outputActive[column.Index - view.inputColumnCount];

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < view.inputColumnCount)
                return main.GetGetter<TValue>(view.input.Schema[column.Index]);
            int output = column.Index - view.inputColumnCount;
            if (!outputActive[output])
                throw new InvalidOperationException($"Column '{column.Name}' was not requested from this cursor.");
            if (outputGetters[output] is not ValueGetter<TValue> getter)
                throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}; it cannot be read as {typeof(TValue).Name}.");
            return getter;
        }

        public override bool MoveNext()
        {
            if (disposed || !main.MoveNext())
                return false;
            if (lookAhead is null)
                return true;
            rowInBatch++;
            if (rowInBatch >= batchRows)
                ReadNextBatch();
            return true;
        }

        private void ReadNextBatch()
        {
            var parent = view.parent;
            int length = parent.SequenceLength;
            batchRows = 0;
            rowInBatch = 0;
            while (batchRows < BatchSize && lookAhead!.MoveNext())
            {
                getFeatures!(ref keys);
                MixerPredictionTransformer.CopyTokenIds(keys, batchTokens.AsSpan(batchRows * length, length), parent.VocabularySize, parent.FeatureColumnName);
                batchRows++;
            }
            if (batchRows == 0)
                throw new InvalidOperationException("The input data view gave a different number of rows to two cursors; it must give the same rows every time.");
            batchOutputs = parent.ScoreTokens(batchTokens, batchRows);
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
