using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace MLNetMixers.Experiment;

/// <summary>
/// The featurization Model Builder gives trees: numbers (and Booleans) in one vector with missing values replaced by
/// the mean, text columns with few distinct values one-hot encoded, other text featurized as free text.
/// </summary>
internal static class TreeFeaturizer
{
    /// <summary>Text columns with at most this many distinct values are categories; more is free text.</summary>
    public const int MaxCategories = 64;

    public const string FeatureColumnName = "__TreeFeatures";

    /// <summary>The estimator, from the columns' types and, for text, their distinct values in <paramref name="data"/>.</summary>
    public static IEstimator<ITransformer> Create(MLContext ml, IDataView data, IReadOnlyList<string> featureColumns)
    {
        var numeric = new List<string>();
        var toConvert = new List<string>();
        var categorical = new List<string>();
        var freeText = new List<string>();
        foreach (string name in featureColumns)
        {
            var column = data.Schema[name];
            var item = column.Type.GetItemType();
            if (item == NumberDataViewType.Single)
                numeric.Add(name);
            else if (item is NumberDataViewType or BooleanDataViewType)
                toConvert.Add(name);
            else if (item is TextDataViewType && column.Type is not VectorDataViewType)
                (CountDistinct(data, column, MaxCategories + 1) <= MaxCategories ? categorical : freeText).Add(name);
            else
                throw new ArgumentException($"Feature column '{name}' is {column.Type}; the experiment's trees read numbers, Booleans and text.");
        }

        var parts = new List<string>();
        IEstimator<ITransformer> pipeline = new EstimatorChain<ITransformer>();
        if (toConvert.Count > 0)
        {
            var pairs = toConvert.Select((n, i) => new InputOutputColumnPair($"__TreeConverted{i}", n)).ToArray();
            pipeline = pipeline.Append(ml.Transforms.Conversion.ConvertType(pairs, DataKind.Single));
            numeric.AddRange(pairs.Select(p => p.OutputColumnName));
        }
        if (numeric.Count > 0)
        {
            // One Concatenate for all numbers: one estimator per column re-reads the data once per column when fitted.
            pipeline = pipeline.Append(ml.Transforms.Concatenate("__TreeNumbers", [.. numeric]))
                .Append(ml.Transforms.ReplaceMissingValues("__TreeNumbers", replacementMode: MissingValueReplacingEstimator.ReplacementMode.Mean));
            parts.Add("__TreeNumbers");
        }
        if (categorical.Count > 0)
        {
            var pairs = categorical.Select((n, i) => new InputOutputColumnPair($"__TreeCategory{i}", n)).ToArray();
            pipeline = pipeline.Append(ml.Transforms.Categorical.OneHotEncoding(pairs));
            parts.AddRange(pairs.Select(p => p.OutputColumnName));
        }
        if (freeText.Count > 0)
        {
            pipeline = pipeline.Append(ml.Transforms.Text.FeaturizeText("__TreeText", new Microsoft.ML.Transforms.Text.TextFeaturizingEstimator.Options(), [.. freeText]));
            parts.Add("__TreeText");
        }
        if (parts.Count == 0)
            throw new ArgumentException("The experiment's trees have no feature column.");
        return pipeline.Append(ml.Transforms.Concatenate(FeatureColumnName, [.. parts]));
    }

    private static int CountDistinct(IDataView data, DataViewSchema.Column column, int stopAt)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var cursor = data.GetRowCursor([column]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
        ReadOnlyMemory<char> value = default;
        while (seen.Count < stopAt && cursor.MoveNext())
        {
            getter(ref value);
            seen.Add(value.ToString());
        }
        return seen.Count;
    }
}
