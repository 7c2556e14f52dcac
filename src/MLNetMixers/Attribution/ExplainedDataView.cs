using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Attribution;

/// <summary>
/// The scored data plus attribution columns, explained <see cref="MixerExplainOptions.BatchSize"/> rows per network run.
/// </summary>
internal sealed class ExplainedDataView : ReadAheadBatchDataView<ExplainedBatch>
{
    private readonly MixerExplainTransformer parent;
    private readonly int length;
    private readonly int fieldCount;

    public ExplainedDataView(MixerExplainTransformer parent, IDataView scored)
        : base(scored, scored.Schema[parent.Pipeline.FeatureColumnName].Index, parent.AppendColumns(scored.Schema),
            parent.Options.BatchSize, parent.Pipeline.Network.SequenceLength,
            "The data returned fewer rows on a second pass than on the first: attribution needs a repeatable data view.")
    {
        this.parent = parent;
        length = parent.Pipeline.Network.SequenceLength;
        fieldCount = parent.Pipeline.Network.Fields.Count;
    }

    /// <summary>The current row's predicted class, shown prediction and explained class.</summary>
    internal static (int Predicted, float Prediction, int Explained) CurrentPrediction(DataViewRowCursor cursor)
    {
        var explained = (Cursor)cursor;
        var raw = explained.CurrentBatch.Raw;
        int i = explained.RowInBatch;
        return (raw.PredictedClasses[i], raw.Predictions[i], raw.Classes[i]);
    }

    protected override void ReadTokenIds(in VBuffer<uint> keys, Span<long> destination, long row)
        => parent.CopyTokenIds(keys, destination, row);

    protected override ExplainedBatch ComputeBatch(long[] tokenIds, int rows)
    {
        // The attributor indexes embeddings with int ids.
        var ids = new int[rows * length];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = (int)tokenIds[i];
        return parent.ExplainBatch(ids, rows);
    }

    protected override Delegate?[] MakeAppendedGetters(Func<int, bool> isActive, Cursor cursor) =>
    [
        (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) => CopyRow(cursor.CurrentBatch.Characters, length, cursor.RowInBatch, ref dst)),
        (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) => CopyRow(cursor.CurrentBatch.Fields, fieldCount, cursor.RowInBatch, ref dst)),
        (ValueGetter<float>)((ref float dst) => dst = cursor.CurrentBatch.Gaps![cursor.RowInBatch]),
    ];

    private static void CopyRow(float[] source, int width, int row, ref VBuffer<float> dst)
    {
        var editor = VBufferEditor.Create(ref dst, width);
        source.AsSpan(row * width, width).CopyTo(editor.Values);
        dst = editor.Commit();
    }
}

/// <summary>One batch of explained rows with the per-field values already aggregated.</summary>
internal sealed record ExplainedBatch(int Rows, float[] Characters, float[] Fields, float[]? Gaps, AttributionBatch Raw);
