using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Attribution;

/// <summary>
/// The scored data plus attribution columns. A cursor serves rows from the scored data while a second cursor over the
/// same data reads the encoded column ahead, <see cref="MixerExplainOptions.BatchSize"/> rows at a time, so the network
/// runs once per batch rather than once per row.
/// </summary>
internal sealed class ExplainedDataView : IDataView
{
    private readonly MixerExplainTransformer parent;
    private readonly IDataView scored;
    private readonly int featureColumn;
    private readonly int firstAdded;

    public ExplainedDataView(MixerExplainTransformer parent, IDataView scored)
    {
        this.parent = parent;
        this.scored = scored;
        featureColumn = scored.Schema[parent.Pipeline.FeatureColumnName].Index;
        firstAdded = scored.Schema.Count;
        Schema = parent.AppendColumns(scored.Schema);
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => scored.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        var inner = scored.Schema.Where(c => needed.Contains(c.Index));
        bool explain = needed.Any(i => i >= firstAdded);
        return new Cursor(this, scored.GetRowCursor(inner), explain ? scored.GetRowCursor([scored.Schema[featureColumn]]) : null);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    internal sealed class Cursor : DataViewRowCursor
    {
        private readonly ExplainedDataView view;
        private readonly DataViewRowCursor rows;
        private readonly DataViewRowCursor? ahead;
        private readonly ValueGetter<VBuffer<uint>>? keys;
        private readonly int length;
        private readonly int fieldCount;
        private ExplainedBatch? batch;
        private long batchStart;
        private bool disposed;

        public Cursor(ExplainedDataView view, DataViewRowCursor rows, DataViewRowCursor? ahead)
        {
            this.view = view;
            this.rows = rows;
            this.ahead = ahead;
            length = view.parent.Pipeline.Network.SequenceLength;
            fieldCount = view.parent.Pipeline.Network.Fields.Count;
            if (ahead is not null)
                keys = ahead.GetGetter<VBuffer<uint>>(view.scored.Schema[view.featureColumn]);
        }

        public override DataViewSchema Schema => view.Schema;

        public override long Position => rows.Position;

        public override long Batch => rows.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => rows.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column)
            => column.Index < view.firstAdded ? rows.IsColumnActive(rows.Schema[column.Index]) : ahead is not null;

        public override bool MoveNext() => rows.MoveNext();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < view.firstAdded)
                return rows.GetGetter<TValue>(rows.Schema[column.Index]);
            if (ahead is null)
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            Delegate getter = (column.Index - view.firstAdded) switch
            {
                0 => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) => CopyTo(Current().Characters, length, ref dst)),
                1 => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) => CopyTo(Current().Fields, fieldCount, ref dst)),
                _ => (ValueGetter<float>)((ref float dst) => dst = Current().Gaps![RowInBatch()]),
            };
            return getter as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' has type {column.Type}, not {typeof(TValue).Name}.");
        }

        /// <summary>The current row's predicted class, shown prediction and explained class.</summary>
        public (int Predicted, float Prediction, int Explained) CurrentPrediction()
        {
            var raw = Current().Raw;
            int i = RowInBatch();
            return (raw.PredictedClasses[i], raw.Predictions[i], raw.Classes[i]);
        }

        private int RowInBatch() => (int)(rows.Position - batchStart);

        private void CopyTo(float[] source, int width, ref VBuffer<float> dst)
        {
            var editor = VBufferEditor.Create(ref dst, width);
            source.AsSpan(RowInBatch() * width, width).CopyTo(editor.Values);
            dst = editor.Commit();
        }

        /// <summary>The batch holding the current row, reading ahead when the current row is past the last batch.</summary>
        private ExplainedBatch Current()
        {
            if (rows.Position < 0)
                throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");
            while (batch is null || rows.Position >= batchStart + batch.Rows)
            {
                batchStart = batch is null ? 0 : batchStart + batch.Rows;
                batch = ReadAhead();
                if (batch.Rows == 0)
                    throw new InvalidOperationException("The data returned fewer rows on a second pass than on the first: attribution needs a repeatable data view.");
            }
            return batch;
        }

        private ExplainedBatch ReadAhead()
        {
            int capacity = view.parent.Options.BatchSize;
            var ids = new List<int>(capacity * length);
            VBuffer<uint> value = default;
            int count = 0;
            while (count < capacity && ahead!.MoveNext())
            {
                keys!(ref value);
                view.parent.AppendTokenIds(value, ids, ahead.Position);
                count++;
            }
            return view.parent.ExplainBatch(ids.ToArray(), count);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposed)
                return;
            if (disposing)
            {
                rows.Dispose();
                ahead?.Dispose();
            }
            disposed = true;
            base.Dispose(disposing);
        }
    }
}

/// <summary>One batch of explained rows with the per-field values already aggregated.</summary>
internal sealed record ExplainedBatch(int Rows, float[] Characters, float[] Fields, float[]? Gaps, AttributionBatch Raw);
