using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers;

/// <summary>
/// How one task turns the network's raw outputs into ML.NET's prediction columns: their types, the scorer annotations
/// the evaluators look for, and their values. One subclass per <see cref="MixerTask"/>.
/// </summary>
internal abstract class TaskPrediction
{
    /// <param name="task">The task.</param>
    /// <param name="outputs">The network's output width (the class count for multiclass).</param>
    /// <param name="targetScaling">Regression: Score = Mean + Std · output.</param>
    /// <param name="labelKeyValues">Multiclass: the label's key values, which name the score slots and the predicted label.</param>
    /// <param name="classNames">Multiclass: those key values as text.</param>
    public static TaskPrediction For(MixerTask task, int outputs, (double Mean, double Std) targetScaling,
                                     DataViewSchema.Annotations? labelKeyValues, ReadOnlyMemory<char>[]? classNames) => task switch
    {
        MixerTask.BinaryClassification => new Binary(),
        MixerTask.MulticlassClassification => new Multiclass(outputs, labelKeyValues, classNames),
        MixerTask.Regression => new Regression(targetScaling),
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, "Unknown task."),
    };

    /// <summary>2 for binary classification, K for multiclass, 1 for regression.</summary>
    public abstract int ClassCount { get; }

    /// <summary>The score column kind of ML.NET's scorers (what its evaluators check).</summary>
    protected abstract string ScoreColumnKind { get; }

    /// <summary>The prediction columns, annotated as a score column set after those already in <paramref name="inputSchema"/>.</summary>
    public DataViewSchema.DetachedColumn[] Columns(DataViewSchema inputSchema)
    {
        uint setId = checked(inputSchema.GetMaxAnnotationKind(out _, AnnotationUtils.Kinds.ScoreColumnSetId) + 1);
        string kind = ScoreColumnKind;
        return Columns(valueKind =>
        {
            var b = new DataViewSchema.Annotations.Builder();
            b.Add(AnnotationUtils.Kinds.ScoreColumnSetId, AnnotationUtils.ScoreColumnSetIdType, (ref uint dst) => dst = setId);
            b.Add(AnnotationUtils.Kinds.ScoreColumnKind, TextDataViewType.Instance, (ref ReadOnlyMemory<char> dst) => dst = kind.AsMemory());
            b.Add(AnnotationUtils.Kinds.ScoreValueKind, TextDataViewType.Instance, (ref ReadOnlyMemory<char> dst) => dst = valueKind.AsMemory());
            return b;
        });
    }

    /// <param name="scorer">Annotations of a scorer column of the given value kind.</param>
    protected abstract DataViewSchema.DetachedColumn[] Columns(Func<string, DataViewSchema.Annotations.Builder> scorer);

    /// <summary>Getters of the <see cref="Columns(DataViewSchema)"/> that are active, over the current row's raw outputs.</summary>
    public abstract Delegate[] Getters(Func<int, bool> activeOutput, Func<ReadOnlyMemory<float>> rawOf);

    /// <summary>Score (the logit), Probability and a Boolean PredictedLabel.</summary>
    private sealed class Binary : TaskPrediction
    {
        public override int ClassCount => 2;

        protected override string ScoreColumnKind => AnnotationUtils.Const.ScoreColumnKind.BinaryClassification;

        protected override DataViewSchema.DetachedColumn[] Columns(Func<string, DataViewSchema.Annotations.Builder> scorer)
        {
            var probability = scorer(AnnotationUtils.Const.ScoreValueKind.Probability);
            probability.Add(AnnotationUtils.Kinds.IsNormalized, BooleanDataViewType.Instance, (ref bool dst) => dst = true);
            return
            [
                new(MixerPredictionTransformer.ScoreColumnName, NumberDataViewType.Single, scorer(AnnotationUtils.Const.ScoreValueKind.Score).ToAnnotations()),
                new(MixerPredictionTransformer.ProbabilityColumnName, NumberDataViewType.Single, probability.ToAnnotations()),
                new(MixerPredictionTransformer.PredictedLabelColumnName, BooleanDataViewType.Instance, scorer(AnnotationUtils.Const.ScoreValueKind.PredictedLabel).ToAnnotations()),
            ];
        }

        public override Delegate[] Getters(Func<int, bool> activeOutput, Func<ReadOnlyMemory<float>> rawOf) =>
        [
            activeOutput(0) ? (ValueGetter<float>)((ref float dst) => dst = rawOf().Span[0]) : null!,
            activeOutput(1) ? (ValueGetter<float>)((ref float dst) => dst = (float)(1 / (1 + Math.Exp(-rawOf().Span[0])))) : null!,
            activeOutput(2) ? (ValueGetter<bool>)((ref bool dst) => dst = rawOf().Span[0] > 0) : null!,
        ];
    }

    /// <summary>Score (K class probabilities, slots named by the label's key values) and a key PredictedLabel.</summary>
    private sealed class Multiclass(int classes, DataViewSchema.Annotations? labelKeyValues, ReadOnlyMemory<char>[]? classNames) : TaskPrediction
    {
        public override int ClassCount => classes;

        protected override string ScoreColumnKind => AnnotationUtils.Const.ScoreColumnKind.MulticlassClassification;

        protected override DataViewSchema.DetachedColumn[] Columns(Func<string, DataViewSchema.Annotations.Builder> scorer)
        {
            var score = scorer(AnnotationUtils.Const.ScoreValueKind.Score);
            var predicted = scorer(AnnotationUtils.Const.ScoreValueKind.PredictedLabel);
            if (labelKeyValues is not null && classNames is { } names)
            {
                score.AddSlotNames(classes, (ref VBuffer<ReadOnlyMemory<char>> dst) => new VBuffer<ReadOnlyMemory<char>>(names.Length, names).CopyTo(ref dst));
                predicted.Add(labelKeyValues, name => name == AnnotationUtils.Kinds.KeyValues);
            }
            return
            [
                new(MixerPredictionTransformer.ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, classes), score.ToAnnotations()),
                new(MixerPredictionTransformer.PredictedLabelColumnName, new KeyDataViewType(typeof(uint), classes), predicted.ToAnnotations()),
            ];
        }

        public override Delegate[] Getters(Func<int, bool> activeOutput, Func<ReadOnlyMemory<float>> rawOf) =>
        [
            activeOutput(0) ? (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
            {
                var editor = VBufferEditor.Create(ref dst, classes);
                Softmax(rawOf().Span, editor.Values, out _);
                dst = editor.Commit();
            }) : null!,
            activeOutput(1) ? (ValueGetter<uint>)((ref uint dst) =>
            {
                Span<float> probabilities = stackalloc float[classes];
                Softmax(rawOf().Span, probabilities, out dst);
            }) : null!,
        ];

        /// <summary>Class probabilities and the 1-based key of the most likely class.</summary>
        private static void Softmax(ReadOnlySpan<float> raw, Span<float> probabilities, out uint predictedKey)
        {
            float max = float.NegativeInfinity;
            int best = 0;
            for (int k = 0; k < raw.Length; k++)
            {
                if (raw[k] > max)
                {
                    max = raw[k];
                    best = k;
                }
            }
            double sum = 0;
            for (int k = 0; k < raw.Length; k++)
                sum += Math.Exp(raw[k] - max);
            for (int k = 0; k < raw.Length; k++)
                probabilities[k] = (float)(Math.Exp(raw[k] - max) / sum);
            predictedKey = (uint)best + 1;
        }
    }

    /// <summary>Score in the label's units.</summary>
    private sealed class Regression((double Mean, double Std) targetScaling) : TaskPrediction
    {
        public override int ClassCount => 1;

        protected override string ScoreColumnKind => AnnotationUtils.Const.ScoreColumnKind.Regression;

        protected override DataViewSchema.DetachedColumn[] Columns(Func<string, DataViewSchema.Annotations.Builder> scorer)
            => [new(MixerPredictionTransformer.ScoreColumnName, NumberDataViewType.Single, scorer(AnnotationUtils.Const.ScoreValueKind.Score).ToAnnotations())];

        public override Delegate[] Getters(Func<int, bool> activeOutput, Func<ReadOnlyMemory<float>> rawOf)
            => [activeOutput(0) ? (ValueGetter<float>)((ref float dst) => dst = (float)(targetScaling.Mean + targetScaling.Std * rawOf().Span[0])) : null!];
    }
}
