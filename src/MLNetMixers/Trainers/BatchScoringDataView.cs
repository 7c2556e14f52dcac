using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers;

/// <summary>
/// The output of <see cref="MixerPredictionTransformer.Transform"/>: the input's columns plus the prediction columns,
/// scored <see cref="MixerPredictionTransformer.ScoringRows"/> rows per network run. A batch is the raw outputs,
/// row-major [rows, outputs].
/// </summary>
internal sealed class BatchScoringDataView : ReadAheadBatchDataView<float[]>
{
    private readonly MixerPredictionTransformer parent;

    public BatchScoringDataView(MixerPredictionTransformer parent, IDataView input)
        : base(input, parent.CheckFeatureColumn(input.Schema), parent.GetOutputSchema(input.Schema),
            parent.ScoringRows, parent.SequenceLength,
            "The input data view gave a different number of rows to two cursors; it must give the same rows every time.")
    {
        this.parent = parent;
    }

    protected override void ReadTokenIds(in VBuffer<uint> keys, Span<long> destination, long row)
        => MixerPredictionTransformer.CopyTokenIds(keys, destination, parent.VocabularySize, parent.FeatureColumnName);

    protected override float[] ComputeBatch(long[] tokenIds, int rows) => parent.ScoreTokens(tokenIds, rows);

    protected override Delegate?[] MakeAppendedGetters(Func<int, bool> isActive, Cursor cursor)
    {
        int width = parent.RawWidth;
        return parent.MakeOutputGetters(isActive, () => cursor.CurrentBatch.AsMemory(cursor.RowInBatch * width, width));
    }
}
