using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Cli.Data;
using MLNetMixers.Cli.Reporting;
using MLNetMixers.Cli.Terminal;
using MLNetMixers.Cli.Training;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// The classification and regression commands: CSV in; mixer model zip, LightGBM baseline, metrics.json,
/// ConsumeModel.cs (and the attribution report) out.
/// </summary>
internal static class TrainRunner
{
    public const string ModelFileName = "model.zip";
    public const string BaselineFileName = "baseline-lightgbm.zip";
    public const string MetricsFileName = "metrics.json";
    public const string ConsumeFileName = "ConsumeModel.cs";

    public static int Run(TrainSettings settings, ConsoleUi ui, CancellationToken cancellation)
    {
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        if (settings.Split is <= 0 or >= 1)
            throw new CliException($"--split must be between 0 and 1 (the fraction of rows held out for testing); got {settings.Split}.");

        var schema = CsvSniffer.Sniff(settings.Dataset);
        var label = LabelSpec.Create(schema, settings.LabelColumn, settings.Regression, settings.PositiveClass);
        var features = FeatureColumns(schema, label, settings.IgnoreColumns);
        ui.Line($"Dataset {Path.GetFileName(schema.Path)}: {schema.RowCount} rows, {schema.Columns.Count} columns ({schema.SeparatorName}-separated" +
                $"{(schema.HasHeader ? ", header" : ", no header")}).");
        ui.Line(label.Kind switch
        {
            LearningTask.Binary => $"Label '{label.RawColumn}': binary classification, positive class '{label.PositiveClass}' (negative '{label.NegativeClass}').",
            LearningTask.Multiclass => $"Label '{label.RawColumn}': multiclass classification, {label.Classes.Count} classes ({string.Join(", ", label.Classes)}).",
            _ => $"Label '{label.RawColumn}': regression.",
        });
        ui.Detail("Features: " + string.Join(", ", features.Select(f => $"{f} ({schema.Require(f, "Feature").Kind})")));
        if (label.MissingLabelRows > 0)
            ui.Warning($"{label.MissingLabelRows} rows have no label and are left out.");

        var mlContext = new MLContext(settings.Seed) { FallbackToCpu = true };
        ui.ForwardTrainerLog(mlContext);
        var textColumns = label.Kind == LearningTask.Regression ? null : new HashSet<string> { label.RawColumn };
        var raw = CsvLoader.Load(mlContext, schema, textColumns);
        var prepared = label.Prepare(mlContext, raw);

        IDataView train, test;
        if (settings.ValidationDataset is { } validationPath)
        {
            var validationSchema = CsvSniffer.Sniff(validationPath);
            CheckValidationColumns(schema, validationSchema, label);
            train = prepared;
            test = label.Prepare(mlContext, CsvLoader.Load(mlContext, validationSchema, raw.Schema));
        }
        else
        {
            var split = mlContext.Data.TrainTestSplit(prepared, settings.Split, seed: settings.Seed);
            train = split.TrainSet;
            test = split.TestSet;
        }
        train = mlContext.Data.Cache(train);
        test = mlContext.Data.Cache(test);
        long trainRows = CountRows(train), testRows = CountRows(test);
        if (trainRows == 0 || testRows == 0)
            throw new CliException($"Too few rows to train and test: {trainRows} for training, {testRows} for testing. Use a larger dataset or a different --split.");
        ui.Line($"Training on {trainRows} rows, testing on {testRows} rows{(settings.ValidationDataset is null ? $" (a {settings.Split:P0} split, seed {settings.Seed})" : " (validation dataset)")}.");

        Directory.CreateDirectory(settings.Output);
        var models = new List<ModelMetrics>();
        if (settings.Device == MixerDevice.Cuda && MixerStep.DeviceName(settings.Device) != "cuda")
            ui.Warning("--device cuda: no CUDA device is available to this build (it ships the TorchSharp-cpu backend); training on the CPU.");

        var mixerClock = Stopwatch.StartNew();
        var mixerInput = new MixerStepInput(schema, features, label, train, trainRows, settings, cancellation);
        var mixer = ui.Run("Training mixer", report => MixerStep.Train(mlContext, mixerInput, report));
        var model = WithPredictedClass(mlContext, mixer.Model, label, train);
        ui.Line(mixer.ProbedRowsPerSecond is { } speed
            ? $"Mixer: {mixer.Epochs} epoch(s), planned from a measured {speed:F0} rows/s and a {(settings.TrainTime ?? MixerStep.DefaultTrainTime).TotalSeconds:F0} s budget."
            : $"Mixer: {mixer.Epochs} epoch(s).");
        var mixerMetrics = ModelMetrics.Evaluate(mlContext, "Mixer", model.Transform(test), label);
        mixerMetrics.TrainingSeconds = mixerClock.Elapsed.TotalSeconds;
        models.Add(mixerMetrics);
        string modelPath = Path.Combine(settings.Output, ModelFileName);
        mlContext.Model.Save(model, raw.Schema, modelPath);
        OnnxCommands.WriteScoringZip(mlContext, model, raw.Schema, settings.Output, ui);

        if (settings.Baseline)
        {
            var baselineClock = Stopwatch.StartNew();
            var baseline = ui.Run("Training LightGBM baseline", _ =>
                LightGbmBaseline.Pipeline(mlContext, schema, features, label, settings.Seed).Fit(train));
            var baselineMetrics = ModelMetrics.Evaluate(mlContext, "LightGBM", baseline.Transform(test), label);
            baselineMetrics.TrainingSeconds = baselineClock.Elapsed.TotalSeconds;
            models.Add(baselineMetrics);
            mlContext.Model.Save(baseline, raw.Schema, Path.Combine(settings.Output, BaselineFileName));
        }

        var consume = ConsumeModelGenerator.Generate(raw.Schema, model.GetOutputSchema(raw.Schema), FirstRow(raw),
            $"Model: {Describe(label)} on '{Path.GetFileName(schema.Path)}'.");
        File.WriteAllText(Path.Combine(settings.Output, ConsumeFileName), consume);

        var summary = new RunSummary
        {
            Settings = settings,
            Schema = schema,
            Label = label,
            FeatureColumns = features,
            ColumnTypes = raw.Schema.ToDictionary(c => c.Name, c => c.Type.ToString() ?? ""),
            TrainRows = trainRows,
            TestRows = testRows,
            StartedUtc = started,
            Models = models,
            Device = MixerStep.DeviceName(settings.Device),
            EpochsRun = mixer.Epochs,
            ProbedRowsPerSecond = mixer.ProbedRowsPerSecond,
        };
        if (settings.Explain)
        {
            string? report = TryExplain(ui, settings.Verbose, () => ExplainStep.Run(mlContext, model, test, label.Column, settings.Output,
                $"mlnet-mixers: {Describe(label)} on {Path.GetFileName(schema.Path)}", settings.ReportRows, settings.Seed, ui));
            if (report is not null)
                ui.Line($"Attribution report: {Path.GetFullPath(report)}");
        }
        summary.ElapsedSeconds = clock.Elapsed.TotalSeconds;
        MetricsReport.WriteJson(summary, Path.Combine(settings.Output, MetricsFileName));

        ui.Write(MetricsReport.Table(summary));
        ui.Line($"Wrote {Path.GetFullPath(settings.Output)}: {string.Join(", ", Directory.GetFiles(settings.Output).Select(Path.GetFileName).Order())}");
        ui.Line($"Done in {clock.Elapsed.TotalSeconds:F0} s.");
        return 0;
    }

    /// <summary>
    /// The report is an extra: when attribution cannot explain this model, the run still succeeds with its model,
    /// metrics and code, and says why the report is missing.
    /// </summary>
    internal static string? TryExplain(ConsoleUi ui, bool verbose, Func<string> explain)
    {
        try
        {
            return explain();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException)
        {
            ui.Warning($"attribution report skipped: {e.Message}");
            if (verbose)
                ui.Detail(e.ToString());
            return null;
        }
    }

    internal static string Describe(LabelSpec label) => label.Kind switch
    {
        LearningTask.Binary => $"binary classification of '{label.RawColumn}' (PredictedLabel true = '{label.PositiveClass}'; Probability is P('{label.PositiveClass}'))",
        LearningTask.Multiclass => $"multiclass classification of '{label.RawColumn}' ({label.Classes.Count} classes; Score holds one probability per class in ordinal order)",
        _ => $"regression of '{label.RawColumn}' (Score is the prediction)",
    };

    private static IReadOnlyList<string> FeatureColumns(CsvSchema schema, LabelSpec label, IReadOnlyList<string> ignore)
    {
        var ignored = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in ignore)
        {
            var column = schema.Require(name, "Ignored");
            if (column.Name == label.RawColumn)
                throw new CliException($"Column '{name}' is the label; it cannot also be ignored.");
            ignored.Add(column.Name);
        }
        var features = schema.Columns.Where(c => c.Name != label.RawColumn && !ignored.Contains(c.Name)).Select(c => c.Name).ToList();
        return features.Count > 0
            ? features
            : throw new CliException("No feature columns left: every column is the label or ignored.");
    }

    private static void CheckValidationColumns(CsvSchema train, CsvSchema validation, LabelSpec label)
    {
        var missing = train.Columns.Select(c => c.Name).Where(n => validation.Find(n) is null).ToList();
        if (missing.Count > 0)
            throw new CliException($"The validation dataset lacks column(s) {string.Join(", ", missing.Select(m => $"'{m}'"))} of the training dataset.");
        if (label.Kind == LearningTask.Regression)
        {
            var v = validation.Require(label.RawColumn, "Label");
            if (v.Kind != CsvColumnKind.Numeric && v.FirstNonNumeric is var (value, line))
                throw new CliException($"Regression needs a numeric label, but the validation dataset's '{v.Name}' holds '{value}' at line {line}.");
            return;
        }
        var unknown = validation.Require(label.RawColumn, "Label").Distinct?.Keys.Where(k => !label.Classes.Contains(k)).ToList();
        if (unknown is null)
            throw new CliException($"The validation dataset's label '{label.RawColumn}' has too many distinct values.");
        if (unknown.Count > 0)
            throw new CliException($"The validation dataset's label '{label.RawColumn}' has class(es) the training data lacks: {string.Join(", ", unknown)}.");
    }

    /// <summary>Appends a readable "PredictedClass" text column so predictions name the class, not a bool or key.</summary>
    private static TransformerChain<ITransformer> WithPredictedClass(MLContext mlContext, TransformerChain<ITransformer> mixer, LabelSpec label, IDataView train)
    {
        var scored = mixer.Transform(train);
        switch (label.Kind)
        {
            case LearningTask.Binary:
            {
                var pairs = new[] { new KeyValuePair<bool, string>(false, label.NegativeClass!), new KeyValuePair<bool, string>(true, label.PositiveClass!) };
                return mixer.Append<ITransformer>(mlContext.Transforms.Conversion.MapValue("PredictedClass", pairs, "PredictedLabel").Fit(scored));
            }
            case LearningTask.Multiclass:
                return mixer.Append<ITransformer>(mlContext.Transforms.Conversion.MapKeyToValue("PredictedClass", "PredictedLabel").Fit(scored));
            default:
                return mixer;
        }
    }

    private static long CountRows(IDataView data)
    {
        long count = 0;
        using var cursor = data.GetRowCursor([]);
        while (cursor.MoveNext())
            count++;
        return count;
    }

    private static IReadOnlyDictionary<string, object?> FirstRow(IDataView raw)
    {
        var preview = raw.Preview(1);
        return preview.RowView.Length == 0
            ? new Dictionary<string, object?>()
            : preview.RowView[0].Values.ToDictionary(kv => kv.Key, kv => kv.Value is ReadOnlyMemory<char> text ? (object?)text.ToString() : kv.Value);
    }
}
