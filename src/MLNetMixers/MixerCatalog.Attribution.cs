using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Attribution;

namespace Microsoft.ML;

public static partial class MixerCatalog
{
    /// <summary>
    /// Explains a fitted mixer pipeline row by row: adds <c>CharacterAttributions</c> (vector of Single, one score per
    /// position of the encoded row), <c>FieldAttributions</c> (vector of Single, slot names = field names) and, for
    /// integrated gradients, <c>CompletenessGap</c> (Single: f(row) - f(baseline) - sum of attributions).
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="model">
    /// The fitted pipeline (or one loaded from a zip) holding a <see cref="CharacterEncodingTransformer"/> and a mixer
    /// predictor. The estimator accepts raw data (scored by <paramref name="model"/> first, its columns kept) or data the
    /// model already scored.
    /// </param>
    /// <param name="options">Method, target class, baseline, steps, aggregation; null for the defaults (integrated gradients of the predicted class).</param>
    public static MixerExplainEstimator ExplainMixer(this TransformsCatalog catalog, ITransformer model, MixerExplainOptions? options = null)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(model, nameof(model));
        var env = CatalogUtils.GetEnvironment(catalog);
        return new MixerExplainEstimator(env, ExplainedPipeline.Resolve(model), options ?? new MixerExplainOptions());
    }

    /// <summary>
    /// Dataset-level explanations of a fitted mixer pipeline: mean absolute attribution per field, permutation importance
    /// of the raw input columns, and an HTML/CSV report (see <see cref="MixerExplainer"/>).
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="model">The fitted pipeline holding a <see cref="CharacterEncodingTransformer"/> and a mixer predictor.</param>
    /// <param name="options">Attribution options; null for the defaults.</param>
    /// <param name="seed">Seed of the permutations; null derives one from the MLContext's random source.</param>
    public static MixerExplainer CreateMixerExplainer(this TransformsCatalog catalog, ITransformer model, MixerExplainOptions? options = null, int? seed = null)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(model, nameof(model));
        var env = CatalogUtils.GetEnvironment(catalog);
        var resolved = ExplainedPipeline.Resolve(model);
        return new MixerExplainer(env, resolved, options ?? new MixerExplainOptions(), seed ?? RandomSeed(env));
    }

    private static int RandomSeed(IHostEnvironment env) => env is IHostEnvironmentInternal { Seed: int s } ? s : 1;
}
