using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;

namespace Microsoft.ML;

public static partial class MixerCatalog
{
    /// <summary>
    /// A mixer model for binary classification over rows encoded by <see cref="EncodeAsCharacters(TransformsCatalog, string, string[])"/>.
    /// </summary>
    /// <param name="catalog">The binary classification trainers catalog.</param>
    /// <param name="labelColumnName">The label: Boolean (Single/Double: non-zero is true).</param>
    /// <param name="featureColumnName">The encoded rows: a known-size vector of keys.</param>
    /// <param name="epochs">Passes over the data; null keeps the binary trainer's default, 6 (<see cref="MixerBinaryTrainer.Options"/> says why).</param>
    /// <returns>The trainer; it adds Score, Probability and PredictedLabel.</returns>
    public static MixerBinaryTrainer Mixer(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = "Label", string featureColumnName = "Features", int? epochs = null)
    {
        var options = new MixerBinaryTrainer.Options { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName };
        if (epochs is { } e)
            options.Epochs = e;
        return Mixer(catalog, options);
    }

    /// <summary>A mixer model for binary classification with every option of <see cref="MixerBinaryTrainer.Options"/>.</summary>
    /// <param name="catalog">The binary classification trainers catalog.</param>
    /// <param name="options">Columns, network, optimisation and device options.</param>
    /// <returns>The trainer; it adds Score, Probability and PredictedLabel.</returns>
    public static MixerBinaryTrainer Mixer(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, MixerBinaryTrainer.Options options)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(options, nameof(options));
        return new MixerBinaryTrainer(CatalogUtils.GetEnvironment(catalog), options);
    }

    /// <summary>
    /// A mixer model for multiclass classification over rows encoded by <see cref="EncodeAsCharacters(TransformsCatalog, string, string[])"/>.
    /// </summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="labelColumnName">The label: a key column (put MapValueToKey before the trainer).</param>
    /// <param name="featureColumnName">The encoded rows: a known-size vector of keys.</param>
    /// <param name="epochs">Passes over the data; null keeps the default, 20 (<see cref="MixerTrainerOptions.Epochs"/>).</param>
    /// <returns>The trainer; it adds Score (class probabilities) and PredictedLabel (a key).</returns>
    public static MixerMulticlassTrainer Mixer(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string featureColumnName = "Features", int? epochs = null)
    {
        var options = new MixerMulticlassTrainer.Options { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName };
        if (epochs is { } e)
            options.Epochs = e;
        return Mixer(catalog, options);
    }

    /// <summary>A mixer model for multiclass classification with every option of <see cref="MixerMulticlassTrainer.Options"/>.</summary>
    /// <param name="catalog">The multiclass classification trainers catalog.</param>
    /// <param name="options">Columns, network, optimisation and device options.</param>
    /// <returns>The trainer; it adds Score (class probabilities) and PredictedLabel (a key).</returns>
    public static MixerMulticlassTrainer Mixer(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, MixerMulticlassTrainer.Options options)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(options, nameof(options));
        return new MixerMulticlassTrainer(CatalogUtils.GetEnvironment(catalog), options);
    }

    /// <summary>
    /// A mixer model for regression over rows encoded by <see cref="EncodeAsCharacters(TransformsCatalog, string, string[])"/>.
    /// </summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">The label: Single or Double.</param>
    /// <param name="featureColumnName">The encoded rows: a known-size vector of keys.</param>
    /// <param name="epochs">Passes over the data; null keeps the regression trainer's default, 40 (<see cref="MixerRegressionTrainer.Options"/> says why).</param>
    /// <returns>The trainer; it adds Score in the label's units.</returns>
    public static MixerRegressionTrainer Mixer(this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = "Label", string featureColumnName = "Features", int? epochs = null)
    {
        var options = new MixerRegressionTrainer.Options { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName };
        if (epochs is { } e)
            options.Epochs = e;
        return Mixer(catalog, options);
    }

    /// <summary>A mixer model for regression with every option of <see cref="MixerRegressionTrainer.Options"/>.</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="options">Columns, network, optimisation and device options.</param>
    /// <returns>The trainer; it adds Score in the label's units.</returns>
    public static MixerRegressionTrainer Mixer(this RegressionCatalog.RegressionTrainers catalog, MixerRegressionTrainer.Options options)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(options, nameof(options));
        return new MixerRegressionTrainer(CatalogUtils.GetEnvironment(catalog), options);
    }
}
