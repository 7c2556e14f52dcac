using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;

namespace Microsoft.ML;

public static partial class MixerCatalog
{
    /// <summary>
    /// A time-budgeted search over the mixer's and LightGBM's settings for binary classification, with an ensemble of
    /// the best of each kept when cross-validation prefers it (see <see cref="MLNetMixers.MixerExperiment"/>). The label is Boolean.
    /// </summary>
    /// <param name="catalog">The binary classification catalog.</param>
    /// <param name="options">Columns, time budget, folds, families, progress and cancellation.</param>
    /// <returns>The experiment; <see cref="MixerExperiment.Execute(IDataView)"/> runs it on the training rows.</returns>
    public static MixerExperiment MixerExperiment(this BinaryClassificationCatalog catalog, MixerExperimentOptions options)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        return new MixerExperiment(CatalogUtils.GetEnvironment(catalog), MixerTask.BinaryClassification, options);
    }

    /// <summary>The experiment for multiclass classification; the label is a key (MapValueToKey first).</summary>
    /// <param name="catalog">The multiclass classification catalog.</param>
    /// <param name="options">Columns, time budget, folds, families, progress and cancellation.</param>
    /// <returns>The experiment; <see cref="MixerExperiment.Execute(IDataView)"/> runs it on the training rows.</returns>
    public static MixerExperiment MixerExperiment(this MulticlassClassificationCatalog catalog, MixerExperimentOptions options)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        return new MixerExperiment(CatalogUtils.GetEnvironment(catalog), MixerTask.MulticlassClassification, options);
    }

    /// <summary>The experiment for regression; the label is Single.</summary>
    /// <param name="catalog">The regression catalog.</param>
    /// <param name="options">Columns, time budget, folds, families, progress and cancellation.</param>
    /// <returns>The experiment; <see cref="MixerExperiment.Execute(IDataView)"/> runs it on the training rows.</returns>
    public static MixerExperiment MixerExperiment(this RegressionCatalog catalog, MixerExperimentOptions options)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        return new MixerExperiment(CatalogUtils.GetEnvironment(catalog), MixerTask.Regression, options);
    }
}
