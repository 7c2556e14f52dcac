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

    /// <summary>Every file a training run may write: a folder holding only these is a previous run, replaced as a whole.</summary>
    public static readonly string[] RunFiles =
        [ModelFileName, OnnxCommands.OnnxModelFileName, BaselineFileName, MetricsFileName, ConsumeFileName, "attribution-report.html", "field-importance.csv", "character-attributions.csv", .. ModelReport.Files];

    public static int Run(TrainSettings settings, ConsoleUi ui, CancellationToken cancellation)
    {
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        if (!(settings.Split > 0 && settings.Split < 1))
            throw new CliException($"--split must be a number between 0 and 1 (the fraction of rows held out for testing, e.g. 0.2); got {settings.Split.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");

        var schema = CsvSniffer.Sniff(settings.Dataset, settings.Numbers);
        var label = LabelSpec.Create(schema, settings.LabelColumn, settings.Regression, settings.PositiveClass);
        var features = FeatureColumns(schema, label, settings.IgnoreColumns);
        ui.Line($"Dataset {Path.GetFileName(schema.Path)}: {schema.RowCount} rows, {schema.Columns.Count} columns ({schema.SeparatorName}-separated" +
                $"{(schema.HasHeader ? ", header" : ", no header")}).");
        DescribeColumns(ui, schema, features);
        ui.Line(label.Kind switch
        {
            LearningTask.Binary => $"Label '{label.RawColumn}': binary classification, positive class '{label.PositiveClass}' (negative '{label.NegativeClass}').",
            LearningTask.Multiclass => $"Label '{label.RawColumn}': multiclass classification, {label.Classes.Count} classes ({string.Join(", ", label.Classes)}).",
            _ => $"Label '{label.RawColumn}': regression.",
        });
        ui.Detail("Features: " + string.Join(", ", features.Select(f => $"{f} ({schema.Require(f, "Feature").Kind})")));
        if (label.MissingLabelRows > 0)
            ui.Warning($"{label.MissingLabelRows} rows have no label in column '{label.RawColumn}' and are left out.");

        var textColumns = label.Kind == LearningTask.Regression ? null : new HashSet<string> { label.RawColumn };
        var raw = CsvLoader.Load(schema, textColumns);
        CsvSchema? validationSchema = null;
        if (settings.ValidationDataset is { } validationPath)
        {
            validationSchema = CsvSniffer.Sniff(validationPath, settings.Numbers ?? schema.Numbers);
            if (validationSchema.EncodingWarning is { } w)
                ui.Warning(w);
            CheckValidationColumns(schema, validationSchema, label);
        }

        // Nothing is opened for writing until the inputs are known to be good; then everything goes to a staging folder.
        using var output = StagedFolder.Begin(settings.Output, RunFiles, [settings.Dataset, .. settings.ValidationDataset is null ? Array.Empty<string>() : [settings.ValidationDataset]], ui);
        var mlContext = new MLContext(settings.Seed) { FallbackToCpu = true };
        ui.ForwardTrainerLog(mlContext);
        var names = new InternalNames(label, schema);

        IDataView train, test;
        if (validationSchema is not null)
        {
            train = label.Prepare(mlContext, raw);
            var validationRaw = CsvLoader.Load(validationSchema, raw.Schema, []);
            test = label.Prepare(mlContext, validationRaw);
        }
        else
        {
            var (trainRowsIndex, testRowsIndex) = Split.Rows(schema, label, settings.Split, settings.Seed);
            train = label.Prepare(mlContext, raw.Subset(trainRowsIndex));
            test = label.Prepare(mlContext, raw.Subset(testRowsIndex));
        }
        train = mlContext.Data.Cache(train);
        test = mlContext.Data.Cache(test);
        long trainRows = CountRows(train), testRows = CountRows(test);
        if (trainRows == 0 || testRows == 0)
            throw new CliException($"Too few rows to train and test: {trainRows} for training, {testRows} for testing. Use a larger dataset or a different --split.");
        ui.Line($"Training on {trainRows} rows, testing on {testRows} rows{(settings.ValidationDataset is null ? $" (a {settings.Split:P0} split{(label.Kind == LearningTask.Regression ? "" : " stratified by class")}, seed {settings.Seed})" : " (validation dataset)")}.");

        var models = new List<ModelMetrics>();
        if (settings.Device == MixerDevice.Cuda && MixerStep.DeviceName(settings.Device) != "cuda")
            ui.Warning("--device cuda: no CUDA device is available to this build (it ships the TorchSharp-cpu backend); training on the CPU.");

        var mixerClock = Stopwatch.StartNew();
        var mixerInput = new MixerStepInput(schema, features, label, train, trainRows, settings, cancellation);
        MixerStepResult? mixer = null;
        MixerExperimentResult? experiment = null;
        TransformerChain<ITransformer> model;
        string modelName = "Mixer";
        if (settings.Search && settings.Epochs is null)
        {
            // The wait ignores Ctrl+C: the experiment itself stops on the token and returns its best model so far,
            // which the rest of the run then evaluates and saves.
            experiment = Phase.Run("Running the experiment", mlContext, names, CancellationToken.None,
                () => ui.Run("Experiment", report => ExperimentStep.Run(mlContext, mixerInput, report)));
            foreach (string line in ExperimentStep.Leaderboard(experiment))
                ui.Line(line);
            modelName = ExperimentStep.ModelName(experiment.Chosen);
            ui.Line($"Chosen: {modelName} (trial #{experiment.BestTrial.Number}, cross-validated {experiment.MetricName} " +
                    $"{experiment.BestTrial.Metric.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)}){(experiment.Refitted ? ", refitted on all training rows" : ", its first-fold model")}.");
            if (experiment.Cancelled)
            {
                ui.Warning("Cancelled: the best model found so far is evaluated and saved; the baseline and the report are skipped.");
                cancellation = CancellationToken.None;
            }
            var chosen = experiment.Model as TransformerChain<ITransformer> ?? new TransformerChain<ITransformer>(experiment.Model);
            model = Phase.Run("Training the mixer", mlContext, names, cancellation, () => WithPredictedClass(mlContext, chosen, label, train));
        }
        else
        {
            mixer = Phase.Run("Training the mixer", mlContext, names, cancellation,
                () => ui.Run("Training mixer", report => MixerStep.Train(mlContext, mixerInput, report)));
            var trained = mixer.Model;
            model = Phase.Run("Training the mixer", mlContext, names, cancellation, () => WithPredictedClass(mlContext, trained, label, train));
            ui.Line(mixer.ProbedRowsPerSecond is { } speed
                ? $"Mixer: {mixer.Epochs} epoch(s), planned from a measured {speed:F0} rows/s and a {(settings.TrainTime ?? MixerStep.DefaultTrainTime).TotalSeconds:F0} s budget."
                : $"Mixer: {mixer.Epochs} epoch(s).");
        }
        var mixerMetrics = Phase.Run("Evaluating the model", mlContext, names, cancellation, () => ModelMetrics.Evaluate(mlContext, modelName, model.Transform(test), label));
        mixerMetrics.TrainingSeconds = mixerClock.Elapsed.TotalSeconds;
        models.Add(mixerMetrics);
        var scored = new List<(string Model, IDataView Scored)> { (modelName, model.Transform(test)) };
        Phase.Run("Saving the model", mlContext, names, cancellation, () => { mlContext.Model.Save(model, raw.Schema, Path.Combine(output.Path, ModelFileName)); return 0; });
        // The ONNX scoring zip replaces the mixer's network (an ensemble's trees and average are managed ML.NET steps and
        // stay); LightGBM alone has no TorchSharp step to replace.
        if (experiment?.Chosen == ExperimentFamily.LightGbm)
            ui.Line($"No {OnnxCommands.OnnxModelFileName}: the chosen LightGBM model has no TorchSharp step, so {ModelFileName} already scores without libtorch.");
        else
            Phase.Run("Exporting the scoring model", mlContext, names, cancellation, () => OnnxCommands.WriteScoringZip(mlContext, model, raw.Schema, output.Path, ui));

        if (settings.Baseline && experiment?.Cancelled != true)
        {
            // The baseline is a yardstick: when LightGBM cannot fit these rows, the run keeps its mixer and says why.
            try
            {
                var baselineClock = Stopwatch.StartNew();
                var baseline = Phase.Run("Training the LightGBM baseline", mlContext, names, cancellation, () => ui.Run("Training LightGBM baseline", report =>
                {
                    report(0, $"featurizing {features.Count} columns", true);
                    return LightGbmBaseline.Pipeline(mlContext, schema, features, label, settings.Seed).Fit(train);
                }));
                var baselineMetrics = Phase.Run("Evaluating the LightGBM baseline", mlContext, names, cancellation,
                    () => ModelMetrics.Evaluate(mlContext, "LightGBM", baseline.Transform(test), label));
                baselineMetrics.TrainingSeconds = baselineClock.Elapsed.TotalSeconds;
                Phase.Run("Saving the LightGBM baseline", mlContext, names, cancellation,
                    () => { mlContext.Model.Save(baseline, raw.Schema, Path.Combine(output.Path, BaselineFileName)); return 0; });
                models.Add(baselineMetrics);
                scored.Add(("LightGBM", baseline.Transform(test)));
            }
            catch (CliException e) when (e.InnerException is { } inner)
            {
                File.Delete(Path.Combine(output.Path, BaselineFileName));
                ui.Warning("The LightGBM baseline is skipped: " + (LightGbmBaseline.FoundNoSplit(inner)
                    ? $"LightGBM found no split worth making in {trainRows} training rows (too few rows, or no feature that separates the label)."
                    : e.Message));
                if (settings.Verbose)
                    ui.Detail(inner.ToString());
            }
        }

        var consume = ConsumeModelGenerator.Generate(raw.Schema, model.GetOutputSchema(raw.Schema), FirstRow(raw),
            $"Model: {Describe(label)} on '{Path.GetFileName(schema.Path)}'.");
        File.WriteAllText(Path.Combine(output.Path, ConsumeFileName), consume);

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
            EpochsRun = mixer?.Epochs,
            ProbedRowsPerSecond = mixer?.ProbedRowsPerSecond,
            Experiment = experiment,
        };
        string? report = null;
        if (settings.Explain && experiment is { Chosen: not ExperimentFamily.Mixer })
        {
            ui.Line(experiment.Cancelled ? "The attribution report is skipped (cancelled)."
                : $"The attribution report explains mixer models; the experiment chose {modelName}, so it is skipped (--no-search trains one mixer).");
        }
        else if (settings.Explain && experiment?.Cancelled != true)
        {
            report = TryExplain(ui, settings.Verbose, () => Phase.Run("Writing the attribution report", mlContext, names, cancellation,
                () => ExplainStep.Run(mlContext, model, test, label.Column, output.Path,
                    $"mlnet-mixers: {Describe(label)} on {Path.GetFileName(schema.Path)}", settings.ReportRows, settings.Seed, ui, features.Count)));
        }
        string? modelReport = WriteModelReport(ui, settings.Verbose, output.Path, label, scored, models);
        summary.ElapsedSeconds = clock.Elapsed.TotalSeconds;
        MetricsReport.WriteJson(summary, Path.Combine(output.Path, MetricsFileName));

        cancellation.ThrowIfCancellationRequested();
        var written = output.Commit();
        ui.Write(MetricsReport.Table(summary));
        if (report is not null)
            ui.Line($"Attribution report: {Path.Combine(output.Destination, Path.GetFileName(report))}");
        if (modelReport is not null)
            ui.Line($"Model report: {Path.Combine(output.Destination, Path.GetFileName(modelReport))}");
        ui.Line($"Wrote {output.Destination}: {string.Join(", ", written)}");
        ui.Line($"Done in {clock.Elapsed.TotalSeconds:F0} s.");
        return 0;
    }

    /// <summary>The charts are a view of metrics already computed: a failure to draw them is a warning, not a failed run.</summary>
    private static string? WriteModelReport(ConsoleUi ui, bool verbose, string folder, LabelSpec label, List<(string Model, IDataView Scored)> scored, List<ModelMetrics> models)
    {
        try
        {
            return ModelReport.Write(folder, label, scored, models);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException or TypeInitializationException or DllNotFoundException)
        {
            ui.Warning($"The model report (charts) was not written: {e.Message}");
            if (verbose)
                ui.Detail(e.ToString());
            return null;
        }
    }

    /// <summary>
    /// The inferred type of every column, and a warning for each column that is text only because of a few values
    /// (a typo in a numeric column would otherwise silently turn it into categories).
    /// </summary>
    internal static void DescribeColumns(ConsoleUi ui, CsvSchema schema, IReadOnlyList<string>? features = null)
    {
        if (schema.EncodingWarning is { } encoding)
            ui.Warning(encoding);
        var numeric = schema.Columns.Where(c => c.Kind == CsvColumnKind.Numeric).Select(c => c.Name).ToList();
        var text = schema.Columns.Where(c => c.Kind == CsvColumnKind.Text).Select(c => c.Name).ToList();
        ui.Line($"Columns: {numeric.Count} numeric{List(numeric)}, {text.Count} text{List(text)}; numbers with a {schema.Numbers.Name}" +
                $"{(schema.NumbersSniffed ? " (inferred; --culture sets it)" : " (--culture)")}.");
        foreach (var c in schema.Columns)
        {
            if (c.Kind != CsvColumnKind.Text || c.NonNumericCount == 0 || c.FirstNonNumeric is not var (value, line))
                continue;
            int numbers = c.NonMissingCount - c.NonNumericCount;
            // "A few": at most 5 % of the values (and at least one number), the signature of a typo or a unit.
            if (numbers > 0 && c.NonNumericCount <= Math.Max(1, c.NonMissingCount / 20))
            {
                ui.Warning($"Column '{c.Name}' is read as text because {c.NonNumericCount} of its {c.NonMissingCount} values {(c.NonNumericCount == 1 ? "is not a number" : "are not numbers")} " +
                           $"(e.g. '{value}' at line {line}); fix or blank {(c.NonNumericCount == 1 ? "it" : "them")} to read the column as numbers.");
            }
        }

        static string List(List<string> names) => names.Count == 0 ? "" : $" ({string.Join(", ", names.Take(8))}{(names.Count > 8 ? $", ... {names.Count - 8} more" : "")})";
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
        catch (Exception e) when (e is CliException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            ui.Warning($"The attribution report is skipped: {e.Message}");
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
        var absent = label.Classes.Where(c => validation.Find(label.RawColumn)!.Distinct?.ContainsKey(c) == false).ToList();
        if (label.Kind == LearningTask.Binary && absent.Count > 0)
            throw new CliException($"The validation dataset's label '{label.RawColumn}' has no row of class '{absent[0]}'; a two-class model cannot be tested (AUC) without both classes.");
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

    internal static long CountRows(IDataView data)
    {
        long count = 0;
        using var cursor = data.GetRowCursor([]);
        while (cursor.MoveNext())
            count++;
        return count;
    }

    internal static IReadOnlyDictionary<string, object?> FirstRow(IDataView raw)
    {
        var preview = raw.Preview(1);
        return preview.RowView.Length == 0
            ? new Dictionary<string, object?>()
            : preview.RowView[0].Values.ToDictionary(kv => kv.Key, kv => kv.Value is ReadOnlyMemory<char> text ? (object?)text.ToString() : kv.Value);
    }
}
