using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using Microsoft.ML.Transforms;
using MLNetMixers.Cli.Data;

namespace MLNetMixers.Cli.Training;

/// <summary>
/// The baseline Model Builder would pick first: ML.NET featurization (mean-imputed numbers, one-hot categories,
/// featurized free text) concatenated into one vector, then LightGBM with its defaults.
/// </summary>
internal static class LightGbmBaseline
{
    /// <summary>Text columns with at most this many distinct values are categories (one-hot); more is free text.</summary>
    public const int MaxCategories = 64;

    /// <summary>
    /// ML.NET cannot convert a LightGBM ensemble whose trees have no split (uninformative or very few rows): it fails
    /// with an ArgumentNullException deep inside FastTree's tree conversion.
    /// </summary>
    public static bool FoundNoSplit(Exception e)
        => Commands.Phase.Innermost(e) is ArgumentNullException { StackTrace: { } trace } && trace.Contains("RegressionTree", StringComparison.Ordinal);

    public static IEstimator<ITransformer> Pipeline(MLContext mlContext, CsvSchema schema, IReadOnlyList<string> featureColumns, LabelSpec label, int? seed)
    {
        const string features = "__BaselineFeatures";
        // One estimator per kind of column, whatever the number of columns: a chain of one estimator per column
        // re-reads the data through every earlier step when each is fitted, which made wide tables take minutes.
        var used = featureColumns.Select(n => schema.Require(n, "Feature")).Where(c => c.NonMissingCount > 0).ToList();
        var numeric = used.Where(c => c.Kind == CsvColumnKind.Numeric).Select(c => c.Name).ToArray();
        var categorical = used.Where(c => c.Kind != CsvColumnKind.Numeric && c.Distinct is { Count: <= MaxCategories }).Select(c => c.Name).ToArray();
        var freeText = used.Where(c => c.Kind != CsvColumnKind.Numeric && c.Distinct is not { Count: <= MaxCategories }).Select(c => c.Name).ToArray();
        if (used.Count == 0)
            throw new CliException("The LightGBM baseline has no feature column with values (every feature column is empty); run with --no-baseline.");
        var parts = new List<string>();
        IEstimator<ITransformer> pipeline = new EstimatorChain<ITransformer>();
        if (numeric.Length > 0)
        {
            pipeline = pipeline.Append(mlContext.Transforms.Concatenate("__BaselineNumbers", numeric))
                .Append(mlContext.Transforms.ReplaceMissingValues("__BaselineNumbers", replacementMode: MissingValueReplacingEstimator.ReplacementMode.Mean));
            parts.Add("__BaselineNumbers");
        }
        if (categorical.Length > 0)
        {
            var pairs = categorical.Select((n, i) => new InputOutputColumnPair($"__BaselineCategory{i}", n)).ToArray();
            pipeline = pipeline.Append(mlContext.Transforms.Categorical.OneHotEncoding(pairs));
            parts.AddRange(pairs.Select(p => p.OutputColumnName));
        }
        if (freeText.Length > 0)
        {
            pipeline = pipeline.Append(mlContext.Transforms.Text.FeaturizeText("__BaselineText", new Microsoft.ML.Transforms.Text.TextFeaturizingEstimator.Options(), freeText));
            parts.Add("__BaselineText");
        }
        pipeline = pipeline.Append(mlContext.Transforms.Concatenate(features, [.. parts]));

        return label.Kind switch
        {
            LearningTask.Binary => pipeline.Append(mlContext.BinaryClassification.Trainers.LightGbm(
                new LightGbmBinaryTrainer.Options { LabelColumnName = label.Column, FeatureColumnName = features, Seed = seed, Silent = true })),
            LearningTask.Multiclass => pipeline.Append(mlContext.MulticlassClassification.Trainers.LightGbm(
                new LightGbmMulticlassTrainer.Options { LabelColumnName = label.Column, FeatureColumnName = features, Seed = seed, Silent = true })),
            _ => pipeline.Append(mlContext.Regression.Trainers.LightGbm(
                new LightGbmRegressionTrainer.Options { LabelColumnName = label.Column, FeatureColumnName = features, Seed = seed, Silent = true })),
        };
    }
}
