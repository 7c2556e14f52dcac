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

    public static IEstimator<ITransformer> Pipeline(MLContext mlContext, CsvSchema schema, IReadOnlyList<string> featureColumns, LabelSpec label, int? seed)
    {
        const string features = "__BaselineFeatures";
        var parts = new List<string>();
        IEstimator<ITransformer> pipeline = new EstimatorChain<ITransformer>();
        foreach (string name in featureColumns)
        {
            var column = schema.Require(name, "Feature");
            string featurized = "__lgbm_" + name;
            parts.Add(featurized);
            if (column.Kind == CsvColumnKind.Numeric)
                pipeline = pipeline.Append(mlContext.Transforms.ReplaceMissingValues(featurized, name, MissingValueReplacingEstimator.ReplacementMode.Mean));
            else if (column.Distinct is { Count: <= MaxCategories })
                pipeline = pipeline.Append(mlContext.Transforms.Categorical.OneHotEncoding(featurized, name));
            else
                pipeline = pipeline.Append(mlContext.Transforms.Text.FeaturizeText(featurized, name));
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
