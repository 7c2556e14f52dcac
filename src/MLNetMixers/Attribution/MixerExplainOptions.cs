namespace MLNetMixers;

/// <summary>How per-character attributions are computed.</summary>
public enum AttributionMethod
{
    /// <summary>
    /// Gradient x input on the token embeddings, summed over the embedding width, with the input measured from the
    /// <see cref="MixerExplainOptions.Baseline"/> (g . (e - b); <see cref="AttributionBaseline.Zero"/> gives the classic
    /// g . e): one backward pass. Fast; local (sensitivity at the row, not the effect of the whole value), no completeness.
    /// </summary>
    GradientTimesInput,

    /// <summary>
    /// Integrated gradients (Sundararajan et al., 2017) along the straight line in embedding space from the
    /// <see cref="MixerExplainOptions.Baseline"/> to the row, integrated with Gauss-Legendre quadrature over
    /// <see cref="MixerExplainOptions.Steps"/> points. The attributions add up to f(row) - f(baseline); the remaining
    /// difference is reported in the <c>CompletenessGap</c> column.
    /// </summary>
    IntegratedGradients,

    /// <summary>
    /// Occlusion by character window: each window of <see cref="MixerExplainOptions.OcclusionWindow"/> characters inside a
    /// field is replaced by the missing-value token, and every character gets the mean drop f(row) - f(occluded) of the
    /// windows that cover it.
    /// </summary>
    Occlusion,

    /// <summary>
    /// Occlusion by whole field: the field is replaced by the missing-value token (as if the value were missing); the
    /// drop f(row) - f(occluded) is the field's attribution, spread evenly over its characters.
    /// </summary>
    FieldOcclusion,

    /// <summary>
    /// The seed paper's score: the average of |occlusion| (window) and |gradient x input|, each first scaled to a row
    /// maximum of 1 (the seeds averaged them on their raw, unrelated scales). Non-negative.
    /// </summary>
    Combined,
}

/// <summary>How a field's character attributions become one number.</summary>
public enum FieldAggregation
{
    /// <summary>The signed sum: fields add up to the row's total (for integrated gradients, f(row) - f(baseline)).</summary>
    Sum,

    /// <summary>The mean of absolute values over the field's characters.</summary>
    MeanAbsolute,

    /// <summary>The largest absolute value among the field's characters.</summary>
    MaxAbsolute,

    /// <summary>The sum of absolute values over the field's characters.</summary>
    SumAbsolute,
}

/// <summary>The reference row integrated gradients starts from.</summary>
public enum AttributionBaseline
{
    /// <summary>
    /// Every field position holds the missing-value token (separators stay): the embedding of "every value missing",
    /// a row the model has seen during training when the data had missing values.
    /// </summary>
    MissingValues,

    /// <summary>Every field position holds the padding token (separators stay).</summary>
    Padding,

    /// <summary>All-zero embeddings at every position (position embeddings are still added by the network).</summary>
    Zero,
}

/// <summary>Options of <c>mlContext.Transforms.ExplainMixer</c>.</summary>
public sealed class MixerExplainOptions
{
    /// <summary>The attribution method. Default: <see cref="AttributionMethod.IntegratedGradients"/>.</summary>
    public AttributionMethod Method = AttributionMethod.IntegratedGradients;

    /// <summary>
    /// The class explained, as a zero-based index (binary: 0 = false, 1 = true; multiclass: the label key index). Null
    /// explains the predicted class of each row. Ignored for regression.
    /// </summary>
    /// <remarks>
    /// What is attributed: for classification, the log-odds of the explained class, log p - log(1 - p) (binary: the
    /// logit); for regression, the prediction in label units.
    /// </remarks>
    public int? TargetClass;

    /// <summary>
    /// Quadrature points for <see cref="AttributionMethod.IntegratedGradients"/> (Gauss-Legendre on the path). Default
    /// 64. A row whose completeness gap still exceeds 1% of |f(row) - f(baseline)| is recomputed once with 4x the points.
    /// </summary>
    public int Steps = 64;

    /// <summary>The reference row of integrated gradients and gradient x input. Default: <see cref="AttributionBaseline.MissingValues"/>.</summary>
    public AttributionBaseline Baseline = AttributionBaseline.MissingValues;

    /// <summary>Characters occluded together by <see cref="AttributionMethod.Occlusion"/> and <see cref="AttributionMethod.Combined"/>. Default 2, as in the seeds' code.</summary>
    public int OcclusionWindow = 2;

    /// <summary>How the FieldAttributions column is formed from the characters. Default: <see cref="FieldAggregation.Sum"/>.</summary>
    public FieldAggregation Aggregation = FieldAggregation.Sum;

    /// <summary>Divides each row's character and field attributions by their largest absolute value (so the top one is +-1).</summary>
    public bool Normalize;

    /// <summary>Sequences sent through the network in one pass (rows x integration points, or rows x occlusions). Default 256.</summary>
    public int BatchSize = 256;

    /// <summary>Name of the per-character output column (vector of Single, one per position of the encoded row).</summary>
    public string CharacterAttributionsColumnName = "CharacterAttributions";

    /// <summary>Name of the per-field output column (vector of Single, slot names = field names).</summary>
    public string FieldAttributionsColumnName = "FieldAttributions";

    /// <summary>Name of the integrated-gradients completeness column: f(row) - f(baseline) - sum of attributions (Single).</summary>
    public string CompletenessGapColumnName = "CompletenessGap";

    /// <summary>
    /// Permutation importance shuffles at most this many input columns (null: all): the ones with the largest mean
    /// attribution. Each permuted column costs a full re-scoring per shuffle, so wide tables need a cap.
    /// </summary>
    public int? MaxPermutedColumns;

    internal MixerExplainOptions Clone() => (MixerExplainOptions)MemberwiseClone();

    internal void Validate()
    {
        if (!Enum.IsDefined(Method))
            throw new ArgumentOutOfRangeException(nameof(Method), Method, "Unknown attribution method.");
        if (!Enum.IsDefined(Baseline))
            throw new ArgumentOutOfRangeException(nameof(Baseline), Baseline, "Unknown baseline.");
        if (!Enum.IsDefined(Aggregation))
            throw new ArgumentOutOfRangeException(nameof(Aggregation), Aggregation, "Unknown field aggregation.");
        if (MaxPermutedColumns is < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxPermutedColumns), MaxPermutedColumns, "Permutation importance needs at least 1 column.");
        if (Steps < 1)
            throw new ArgumentOutOfRangeException(nameof(Steps), Steps, "Integrated gradients needs at least 1 step.");
        if (OcclusionWindow < 1)
            throw new ArgumentOutOfRangeException(nameof(OcclusionWindow), OcclusionWindow, "The occlusion window must be at least 1 character.");
        if (BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "The batch size must be at least 1.");
        if (TargetClass < 0)
            throw new ArgumentOutOfRangeException(nameof(TargetClass), TargetClass, "The target class is a zero-based index.");
        foreach (var (name, value) in new[] { (nameof(CharacterAttributionsColumnName), CharacterAttributionsColumnName),
                     (nameof(FieldAttributionsColumnName), FieldAttributionsColumnName), (nameof(CompletenessGapColumnName), CompletenessGapColumnName) })
        {
            if (string.IsNullOrWhiteSpace(value))
                throw new ArgumentException("An output column name is empty.", name);
        }
    }
}
