using System.CommandLine;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Cli.Data;
using MLNetMixers.Cli.Terminal;
using MLNetMixers.Cli.Training;

namespace MLNetMixers.Cli.Commands;

/// <summary><c>explain</c>: a model zip + a CSV -> the attribution report (HTML + CSV), with permutation importance when the label is given.</summary>
internal static class ExplainCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var model = new Option<string>("--model", "-m") { Description = "A model zip written by the classification or regression command.", Required = true };
        var dataset = new Option<string>("--dataset", "-d") { Description = "A CSV with the model's input columns.", Required = true };
        var label = new Option<string?>("--label-col", "-l") { Description = "The label column, to add permutation importance (the metric drop when a column is shuffled)." };
        var rows = new Option<int>("--rows") { Description = "Rows explained (the first ones).", DefaultValueFactory = _ => ExplainStep.DefaultRows };
        var output = new Option<string>("--output", "-o") { Description = "Folder for attribution-report.html, field-importance.csv and character-attributions.csv.", DefaultValueFactory = _ => "mlnet-mixers-report" };
        var seed = new Option<int>("--seed") { Description = "Seed of the permutations.", DefaultValueFactory = _ => 1 };
        var threads = new Option<int?>("--threads") { Description = $"CPU threads for torch (default {CliApp.DefaultThreads})." };
        var culture = CliApp.CultureOption();
        var command = new Command("explain", "Explain a saved mixer model's predictions on a CSV file: which fields and characters drive them.")
        {
            model, dataset, label, rows, output, seed, threads, culture,
        };
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            CliApp.ApplyThreads(CliApp.Positive(parse.GetValue(threads), "--threads"));
            using var cancellation = CliApp.CancelOnCtrlC();
            return Run(parse.GetValue(model)!, parse.GetValue(dataset)!, parse.GetValue(label), CliApp.Positive(parse.GetValue(rows), "--rows")!.Value,
                parse.GetValue(output)!, parse.GetValue(seed), ui, CliApp.ParseCulture(parse.GetValue(culture)), cancellation.Token);
        });
        return command;
    }

    /// <summary>The files explain writes.</summary>
    public static readonly string[] ReportFiles = ["attribution-report.html", "field-importance.csv", "character-attributions.csv"];

    public static int Run(string modelPath, string datasetPath, string? labelColumn, int rows, string output, int seed, ConsoleUi ui,
        NumberReader? numbers = null, CancellationToken cancellation = default)
    {
        var mlContext = new MLContext(seed) { FallbackToCpu = true };
        var (model, modelInput) = ModelFiles.Load(mlContext, modelPath);
        RequireMixer(model, modelPath);
        var schema = CsvSniffer.Sniff(datasetPath, numbers);
        if (schema.EncodingWarning is { } encoding)
            ui.Warning(encoding);
        var unreadable = new List<UnreadableValue>();
        IDataView data;
        string? preparedLabel = null;
        LabelSpec? label = null;
        if (labelColumn is null)
        {
            data = CsvLoader.Load(schema, modelInput, unreadable);
        }
        else
        {
            var (kind, classes) = TaskOf(model, modelInput);
            label = LabelSpec.ForModel(schema, labelColumn, kind, classes);
            data = label.Prepare(mlContext, CsvLoader.Load(schema, Retyped(modelInput, label.RawColumn, kind), unreadable));
            preparedLabel = label.Column;
        }
        foreach (string warning in CsvLoader.Describe(unreadable, Path.GetFileName(datasetPath)))
            ui.Warning(warning);
        ModelFiles.Apply(model, data, datasetPath);

        using var staged = StagedFolder.Begin(output, ReportFiles, [datasetPath, modelPath], ui);
        var names = new InternalNames(label, schema);
        string report;
        try
        {
            report = Phase.Run("Explaining the model", mlContext, names, cancellation,
                () => ExplainStep.Run(mlContext, model, data, preparedLabel, staged.Path, $"mlnet-mixers: {Path.GetFileName(modelPath)} on {Path.GetFileName(datasetPath)}", rows, seed, ui,
                    modelInput.Count));
        }
        catch (CliException e) when (e.InnerException is ArgumentException inner)
        {
            throw new CliException($"'{modelPath}' cannot be explained: {Phase.FirstLine(inner.Message)}", e);
        }
        cancellation.ThrowIfCancellationRequested();
        staged.Commit();
        ui.Line($"Attribution report: {Path.Combine(staged.Destination, Path.GetFileName(report))}");
        return 0;
    }

    /// <summary>Attribution needs the character encoder and a mixer; a LightGBM baseline (or any other model) gets one sentence.</summary>
    private static void RequireMixer(ITransformer model, string modelPath)
    {
        var parts = Flatten(model).ToList();
        // An average holds mixers too, but explaining one member alone would misstate what the zip predicts.
        bool lightGbm = parts.Any(p => Mentions(p.GetType()) || (p.GetType().GetProperty("Model")?.GetValue(p)?.GetType() is { } m && Mentions(m)));
        if (parts.OfType<AveragedPredictionTransformer>().Any())
            throw new CliException(lightGbm
                ? $"'{modelPath}' is an ensemble (the mixer's and LightGBM's predictions averaged, chosen by the experiment); explain works on a single mixer: train with --no-search for one."
                : $"'{modelPath}' averages {parts.OfType<MixerPredictionTransformer>().Count()} mixer networks (an experiment's mixer averaged over its cross-validation folds, AverageMixerFoldModels); explain works on a single network: train with --no-search for one.");
        if (parts.OfType<MixerPredictionTransformer>().Any() && parts.OfType<CharacterEncodingTransformer>().Any())
            return;
        throw new CliException(lightGbm
            ? $"'{modelPath}' is a LightGBM model (the baseline, or the trees the experiment chose); explain works on mixer models: train with --no-search for one."
            : $"'{modelPath}' is not a mixer model written by the classification or regression command; explain works only on those.");
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer)
        => transformer is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [transformer];

    private static bool Mentions(Type type)
        => type.Name.Contains("LightGbm", StringComparison.OrdinalIgnoreCase) || type.GenericTypeArguments.Any(Mentions)
           || (type.BaseType is { } b && b != typeof(object) && Mentions(b));

    /// <summary>What a saved model predicts, read from its output schema (and, for binary, its class names).</summary>
    private static (LearningTask Kind, IReadOnlyList<string> Classes) TaskOf(ITransformer model, DataViewSchema input)
    {
        var output = model.GetOutputSchema(input);
        var predicted = output.GetColumnOrNull("PredictedLabel");
        if (predicted is null)
            return (LearningTask.Regression, []);
        if (predicted.Value.Type is KeyDataViewType)
        {
            VBuffer<ReadOnlyMemory<char>> values = default;
            predicted.Value.GetKeyValues(ref values);
            return (LearningTask.Multiclass, values.DenseValues().Select(v => v.ToString()).ToArray());
        }
        return (LearningTask.Binary, BinaryClassNames(model));
    }

    /// <summary>
    /// The [negative, positive] class names: the models the CLI writes end by mapping PredictedLabel (bool) to
    /// PredictedClass (text), so applying that last step to false and true reads them back.
    /// </summary>
    private static IReadOnlyList<string> BinaryClassNames(ITransformer model)
    {
        if (model is TransformerChain<ITransformer> chain && chain.LastTransformer is { } last)
        {
            var mlContext = new MLContext();
            var flags = mlContext.Data.LoadFromEnumerable(new[] { new Flag { PredictedLabel = false }, new Flag { PredictedLabel = true } });
            try
            {
                var names = last.Transform(flags).GetColumn<ReadOnlyMemory<char>>("PredictedClass").Select(n => n.ToString()).ToArray();
                if (names.Length == 2 && names[0] != names[1])
                    return names;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
            }
        }
        throw new CliException("The model does not name its two classes (it was not written by mlnet-mixers); explain it without --label-col.");
    }

    private static DataViewSchema Retyped(DataViewSchema modelInput, string labelColumn, LearningTask kind)
    {
        var builder = new DataViewSchema.Builder();
        foreach (var column in modelInput)
        {
            var type = column.Name == labelColumn
                ? kind == LearningTask.Regression ? NumberDataViewType.Single : TextDataViewType.Instance
                : column.Type;
            builder.AddColumn(column.Name, type);
        }
        return builder.ToSchema();
    }

    private sealed class Flag
    {
        public bool PredictedLabel { get; set; }
    }
}
