using Microsoft.ML;

namespace MLNetMixers.Cli.Training;

/// <summary>The metrics Model Builder shows for one model on the held-out rows, in display order.</summary>
internal sealed class ModelMetrics
{
    public required string Model { get; init; }

    /// <summary>Headline metrics (name -> value) in display order.</summary>
    public required IReadOnlyList<KeyValuePair<string, double>> Values { get; init; }

    /// <summary>Per-class precision and recall (multiclass only; binary has them as headline metrics).</summary>
    public IReadOnlyList<ClassMetrics> PerClass { get; init; } = [];

    public double TrainingSeconds { get; set; }

    public double? this[string name] => Values.Where(kv => kv.Key == name).Select(kv => (double?)kv.Value).FirstOrDefault();

    /// <summary>The metric the CLI leads with: AUC for binary, macro accuracy for multiclass, R^2 for regression.</summary>
    public static string Headline(LearningTask kind) => kind switch
    {
        LearningTask.Binary => "AUC",
        LearningTask.Multiclass => "MacroAccuracy",
        _ => "RSquared",
    };

    public static ModelMetrics Evaluate(MLContext mlContext, string model, IDataView scored, LabelSpec label)
    {
        switch (label.Kind)
        {
            case LearningTask.Binary:
            {
                var m = mlContext.BinaryClassification.Evaluate(scored, label.Column);
                return new ModelMetrics
                {
                    Model = model,
                    Values =
                    [
                        new("Accuracy", m.Accuracy), new("AUC", m.AreaUnderRocCurve), new("AUPRC", m.AreaUnderPrecisionRecallCurve),
                        new("F1Score", m.F1Score), new("LogLoss", m.LogLoss), new("LogLossReduction", m.LogLossReduction),
                        new("PositivePrecision", m.PositivePrecision), new("PositiveRecall", m.PositiveRecall),
                        new("NegativePrecision", m.NegativePrecision), new("NegativeRecall", m.NegativeRecall),
                    ],
                };
            }
            case LearningTask.Multiclass:
            {
                var m = mlContext.MulticlassClassification.Evaluate(scored, label.Column);
                var confusion = m.ConfusionMatrix;
                return new ModelMetrics
                {
                    Model = model,
                    Values =
                    [
                        new("MicroAccuracy", m.MicroAccuracy), new("MacroAccuracy", m.MacroAccuracy),
                        new("LogLoss", m.LogLoss), new("LogLossReduction", m.LogLossReduction),
                    ],
                    PerClass = [.. label.Classes.Select((c, i) => new ClassMetrics(
                        c, confusion.PerClassPrecision[i], confusion.PerClassRecall[i], m.PerClassLogLoss[i]))],
                };
            }
            default:
            {
                var m = mlContext.Regression.Evaluate(scored, label.Column);
                return new ModelMetrics
                {
                    Model = model,
                    Values =
                    [
                        new("RSquared", m.RSquared), new("MeanAbsoluteError", m.MeanAbsoluteError),
                        new("RootMeanSquaredError", m.RootMeanSquaredError), new("MeanSquaredError", m.MeanSquaredError),
                    ],
                };
            }
        }
    }
}

internal sealed record ClassMetrics(string Class, double Precision, double Recall, double LogLoss);
