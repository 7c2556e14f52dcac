using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms;
using MLNetMixers.Attribution;

namespace MLNetMixers;

/// <summary>
/// Dataset-level explanations of a fitted mixer pipeline: mean absolute attribution per field, permutation importance
/// of the raw input columns, and an HTML/CSV report. Created by <c>mlContext.Transforms.CreateMixerExplainer</c>.
/// Long runs report progress through the MLContext log.
/// </summary>
public sealed class MixerExplainer
{
    private readonly IHost host;
    private readonly ExplainedPipeline pipeline;
    private readonly MixerExplainOptions options;
    private readonly int seed;

    internal MixerExplainer(IHostEnvironment env, ExplainedPipeline pipeline, MixerExplainOptions options, int seed)
    {
        host = Contracts.CheckRef(env, nameof(env)).Register(nameof(MixerExplainer));
        this.pipeline = pipeline;
        this.options = options.Clone();
        this.seed = seed;
        Transformer = new MixerExplainTransformer(host, pipeline, this.options);
    }

    /// <summary>The per-row transformer with this explainer's options.</summary>
    public MixerExplainTransformer Transformer { get; }

    /// <summary>
    /// Mean absolute field attribution (per <see cref="MixerExplainOptions.Aggregation"/>) over the first
    /// <paramref name="maxRows"/> rows, with its standard deviation over rows; most important first.
    /// </summary>
    /// <param name="data">Raw data (the pipeline's input) or data already holding the encoded column.</param>
    /// <param name="maxRows">Rows explained at most.</param>
    public IReadOnlyList<FieldImportance> FieldImportance(IDataView data, int maxRows = 1000)
    {
        host.CheckValue(data, nameof(data));
        host.CheckParam(maxRows > 0, nameof(maxRows), "must be positive");
        var (importance, _) = Explain(data, maxRows, keepRows: 0);
        return importance;
    }

    /// <summary>
    /// Permutation importance of each raw input column the character encoder reads: the column's values are shuffled
    /// across rows (before encoding, so every character of the field moves together), the pipeline re-scores the data,
    /// and the drop of a metric is recorded: binary, AUC; multiclass, log-loss reduction; regression, R². Mean and
    /// standard deviation over <paramref name="permutations"/> shuffles; most important first.
    /// </summary>
    /// <param name="data">Raw data, the pipeline's input, with the label.</param>
    /// <param name="labelColumnName">The label column as the evaluator sees it after the pipeline (a key for multiclass).</param>
    /// <param name="permutations">Shuffles per column.</param>
    /// <param name="maxRows">Rows used at most (held in memory once per column).</param>
    public IReadOnlyList<FieldImportance> PermutationImportance(IDataView data, string labelColumnName = "Label", int permutations = 3, int maxRows = 2000)
    {
        host.CheckValue(data, nameof(data));
        host.CheckNonEmpty(labelColumnName, nameof(labelColumnName));
        host.CheckParam(permutations > 0, nameof(permutations), "must be positive");
        host.CheckParam(maxRows > 0, nameof(maxRows), "must be positive");
        var all = pipeline.Encoder.InputColumnNames.ToArray();
        var columns = options.MaxPermutedColumns is { } cap && cap < all.Length
            ? MostAttributed(FieldImportance(data, maxRows), all, cap)
            : all;
        return Permute(data, labelColumnName, permutations, maxRows, columns, all.Length);
    }

    /// <summary>The <paramref name="count"/> input columns with the largest mean attribution (a column's fields summed).</summary>
    private static string[] MostAttributed(IReadOnlyList<FieldImportance> importance, string[] columns, int count)
        => columns.OrderByDescending(c => importance
                .Where(f => f.Field == c || f.Field.StartsWith(c + "[", StringComparison.Ordinal) || f.Field.StartsWith(c + ".", StringComparison.Ordinal))
                .Sum(f => Math.Abs(f.Mean)))
            .ThenBy(c => Array.IndexOf(columns, c))
            .Take(count)
            .ToArray();

    private IReadOnlyList<FieldImportance> Permute(IDataView data, string labelColumnName, int permutations, int maxRows, string[] columns, int totalColumns)
    {
        var rows = Take(data, maxRows);
        using var ch = host.Start("Permutation importance");
        if (columns.Length < totalColumns)
            ch.Info($"Permutation importance: the {columns.Length} most attributed of {totalColumns} columns (MaxPermutedColumns).");
        double baseline = Metric(rows, labelColumnName);
        ch.Info($"Permutation importance: baseline {MetricName} = {baseline:G4}; {columns.Length} columns x {permutations} shuffles.");
        var random = new Random(seed);
        var result = new List<FieldImportance>();
        for (int c = 0; c < columns.Length; c++)
        {
            var drops = new List<double>();
            for (int p = 0; p < permutations; p++)
            {
                host.CheckAlive();
                var permuted = PermutedColumnView.Create(rows, columns[c], new Random(random.Next()));
                drops.Add(baseline - Metric(permuted, labelColumnName));
            }
            result.Add(MLNetMixers.FieldImportance.FromSamples(columns[c], drops));
            ch.Info($"Permutation importance: column {c + 1}/{columns.Length} '{columns[c]}': {result[^1]}");
        }
        return result.OrderByDescending(r => r.Mean).ToArray();
    }

    /// <summary>The metric <see cref="PermutationImportance"/> reports the drop of.</summary>
    public string MetricName => pipeline.Network.Task switch
    {
        ExplainedTask.Binary => "AUC",
        ExplainedTask.Multiclass => "log-loss reduction",
        _ => "R²",
    };

    /// <summary>
    /// Explains the first <paramref name="maxRows"/> rows and builds a report: field importance over them, the
    /// character heat maps of the first <paramref name="rowsShown"/>, and permutation importance when
    /// <paramref name="labelColumnName"/> is given. Save it with <see cref="AttributionReport.Save"/>.
    /// </summary>
    public AttributionReport CreateReport(IDataView data, int rowsShown = 20, int maxRows = 500, string? labelColumnName = null,
        int permutations = 3, string title = "Mixer attribution report")
    {
        host.CheckValue(data, nameof(data));
        host.CheckParam(rowsShown >= 0, nameof(rowsShown), "must not be negative");
        host.CheckParam(maxRows > 0, nameof(maxRows), "must be positive");
        var (importance, shown) = Explain(data, maxRows, rowsShown);
        var all = pipeline.Encoder.InputColumnNames.ToArray();
        var permuted = options.MaxPermutedColumns is { } cap && cap < all.Length ? MostAttributed(importance, all, cap) : all;
        if (labelColumnName is not null)
        {
            host.CheckNonEmpty(labelColumnName, nameof(labelColumnName));
            host.CheckParam(permutations > 0, nameof(permutations), "must be positive");
        }
        var permutation = labelColumnName is null ? null : Permute(data, labelColumnName, permutations, maxRows, permuted, all.Length);
        return new AttributionReport(title, options.Method.ToString(), importance, permutation, labelColumnName is null ? null : MetricName, shown);
    }

    private (IReadOnlyList<FieldImportance> Importance, List<ExplainedRow> Rows) Explain(IDataView data, int maxRows, int keepRows)
    {
        var limited = Take(data, maxRows);
        var explained = Transformer.Transform(limited);
        var fields = pipeline.Network.Fields;
        int length = pipeline.Network.SequenceLength;
        var samples = fields.Select(_ => new List<double>()).ToArray();
        var rows = new List<ExplainedRow>();
        var schema = explained.Schema;
        var classNames = pipeline.ClassNames(schema);
        var fieldNames = fields.Select(f => f.Name).ToArray();
        var fieldOf = new int[length];
        Array.Fill(fieldOf, -1);
        for (int f = 0; f < fields.Count; f++)
        {
            for (int i = 0; i < fields[f].Width; i++)
                fieldOf[fields[f].Start + i] = f;
        }

        using var ch = host.Start("Attribution");
        using var pch = host.StartProgressChannel("Explaining rows");
        long done = 0;
        pch.SetHeader(new ProgressHeader(["rows"]), e => e.SetProgress(0, done, maxRows));
        var columns = new[] { schema[options.CharacterAttributionsColumnName], schema[options.FieldAttributionsColumnName], schema[pipeline.FeatureColumnName] };
        // The raw columns the fields are read from, so that the row view can show "Income 52,310" beside its
        // attribution: with value tokens a number is one symbol, which says nothing to the reader.
        var sources = keepRows == 0 ? [] : fields.Select(f => f.SourceColumn).Distinct()
            .Select(c => schema.GetColumnOrNull(c)).OfType<DataViewSchema.Column>().ToArray();
        using var cursor = explained.GetRowCursor(columns.Concat(sources));
        var rawValues = RawValueReader.Create(cursor, sources, fields);
        var characterGetter = cursor.GetGetter<VBuffer<float>>(columns[0]);
        var fieldGetter = cursor.GetGetter<VBuffer<float>>(columns[1]);
        var keyGetter = cursor.GetGetter<VBuffer<uint>>(columns[2]);
        VBuffer<float> characters = default, perField = default;
        VBuffer<uint> keys = default;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (cursor.MoveNext())
        {
            host.CheckAlive();
            fieldGetter(ref perField);
            var values = perField.DenseValues().ToArray();
            for (int f = 0; f < values.Length; f++)
                samples[f].Add(Math.Abs(values[f]));
            if (rows.Count < keepRows)
            {
                characterGetter(ref characters);
                keyGetter(ref keys);
                rows.Add(Row(cursor.Position, keys, characters, classNames, fieldOf, fieldNames, cursor) with
                {
                    FieldValues = rawValues(),
                    FieldScores = values,
                });
            }
            done++;
            if (done % 50 == 0)
                ch.Info($"Attribution: {done} rows explained ({done / Math.Max(sw.Elapsed.TotalSeconds, 1e-9):F0} rows/s).");
        }
        ch.Info($"Attribution: {done} rows explained in {sw.Elapsed.TotalSeconds:F1} s with {options.Method}.");
        var importance = fields.Select((f, i) => MLNetMixers.FieldImportance.FromSamples(f.Name, samples[i]))
            .OrderByDescending(f => f.Mean).ToArray();
        return (importance, rows);
    }

    private ExplainedRow Row(long position, VBuffer<uint> keys, VBuffer<float> characters, string[] classNames, int[] fieldOf, string[] fieldNames, DataViewRowCursor cursor)
    {
        var tokens = keys.DenseValues().Select(k => (int)k - 1).ToArray();
        // One character per position: reserved tokens as the encoder's display marks ('·' padding, '∅' missing, ...).
        var text = tokens.Select(t => pipeline.Encoder.ToDisplayString([t])).ToArray();
        var (predicted, prediction, explainedClass) = ExplainedDataView.CurrentPrediction(cursor);
        string shown, explained;
        switch (pipeline.Network.Task)
        {
            case ExplainedTask.Regression:
                shown = prediction.ToString("G5", System.Globalization.CultureInfo.InvariantCulture);
                explained = "the predicted value";
                break;
            case ExplainedTask.Binary:
                shown = $"{classNames[predicted]} (P(True) = {prediction:F3})";
                explained = $"log-odds of {classNames[explainedClass]}";
                break;
            default:
                shown = $"{classNames[predicted]} (p = {prediction:F3})";
                explained = $"log-odds of {classNames[explainedClass]}";
                break;
        }
        return new ExplainedRow(position, shown, explained, text, characters.DenseValues().ToArray(), fieldOf, fieldNames);
    }

    private IDataView Take(IDataView data, int maxRows)
        => SkipTakeFilter.Create(host, new SkipTakeFilter.TakeOptions { Count = maxRows }, data);

    private double Metric(IDataView rawRows, string labelColumnName)
    {
        var scored = pipeline.Model.Transform(rawRows);
        if (scored.Schema.GetColumnOrNull(labelColumnName) is null)
            throw host.ExceptSchemaMismatch(nameof(labelColumnName), "label", labelColumnName);
        return pipeline.Network.Task switch
        {
            ExplainedTask.Binary => new BinaryClassificationCatalog(host).Evaluate(scored, labelColumnName).AreaUnderRocCurve,
            ExplainedTask.Multiclass => new MulticlassClassificationCatalog(host).Evaluate(scored, labelColumnName).LogLossReduction,
            _ => new RegressionCatalog(host).Evaluate(scored, labelColumnName).RSquared,
        };
    }
}
