using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Training;

/// <summary>Writes the attribution report (HTML + CSV) of a trained mixer pipeline: the CLI's one use of the attribution API.</summary>
internal static partial class ExplainStep
{
    /// <summary>Rows explained by default: enough for a stable field ranking, few enough for well under a minute on two cores.</summary>
    public const int DefaultRows = 100;

    private const int RowsShown = 20;
    private const int Permutations = 3;

    /// <summary>Permutation importance covers the most attributed columns only: its cost grows with every column permuted.</summary>
    public const int MaxPermutedColumns = 30;

    private const int DefaultSteps = 64, MinSteps = 8, MinRows = 10, MinPermutedColumns = 10, WideColumns = 50;

    /// <param name="labelColumn">The prepared label column in <paramref name="data"/>, for permutation importance; null skips it.</param>
    /// <returns>The HTML report's path.</returns>
    public static string Run(MLContext mlContext, ITransformer model, IDataView data, string? labelColumn, string folder, string title,
        int rows, int seed, ConsoleUi ui, int columns)
    {
        // Every explained row costs integrated-gradient steps over a sequence that grows with the columns: past
        // WideColumns, fewer rows and steps keep a wide table's report to about the cost of a narrow one's.
        int steps = DefaultSteps, permuted = MaxPermutedColumns;
        if (columns > WideColumns)
        {
            steps = Math.Clamp(DefaultSteps * WideColumns / columns, MinSteps, DefaultSteps);
            permuted = Math.Clamp(MaxPermutedColumns * WideColumns / columns, MinPermutedColumns, MaxPermutedColumns);
            int widerRows = Math.Max(MinRows, DefaultRows * WideColumns / columns);
            ui.Line($"A wide table ({columns} columns): the report explains {Math.Min(rows, widerRows)} rows with {steps} integrated-gradient steps " +
                    $"(instead of {rows} and {DefaultSteps}){(labelColumn is null ? "" : $" and permutes the {permuted} most attributed columns")}.");
            rows = Math.Min(rows, widerRows);
        }
        // Batches of 64 rows (not the default 256) so that the progress bar moves several times on a 500-row report.
        var explainer = mlContext.Transforms.CreateMixerExplainer(model,
            new MixerExplainOptions { BatchSize = 64, MaxPermutedColumns = permuted, Steps = steps }, seed);
        var report = ui.Run("Explaining predictions", progress =>
        {
            // The explainer logs every 50 rows (as each batch of 64 is explained) and once
            // they are all done, then once per column it permutes: the bar follows the rows, then each column.
            progress(0, $"integrated gradients on {rows} rows", false);
            double rowsShare = labelColumn is null ? 1 : 0.7;
            void OnLog(object? sender, LoggingEventArgs e)
            {
                if (RowsExplained().IsMatch(e.Message))
                    progress(rowsShare, $"{rows} rows explained", true);
                else if (RowsExplainedSoFar().Match(e.Message) is { Success: true } r)
                {
                    double done = double.Parse(r.Groups[1].Value, CultureInfo.InvariantCulture);
                    progress(rowsShare * Math.Min(1, done / Math.Max(1, rows)), $"integrated gradients: {done}/{rows} rows", false);
                }
                else if (PermutedColumn().Match(e.Message) is { Success: true } c)
                {
                    double column = double.Parse(c.Groups[1].Value, CultureInfo.InvariantCulture), columns = double.Parse(c.Groups[2].Value, CultureInfo.InvariantCulture);
                    progress(0.7 + 0.3 * column / columns, $"permutation importance: column {column}/{columns}", column == columns);
                }
            }
            mlContext.Log += OnLog;
            try
            {
                return explainer.CreateReport(data, RowsShown, rows, labelColumn, Permutations, title);
            }
            finally
            {
                mlContext.Log -= OnLog;
            }
        });
        return report.Save(folder);
    }

    [GeneratedRegex(@"Attribution: \d+ rows explained in")]
    private static partial Regex RowsExplained();

    [GeneratedRegex(@"Attribution: (\d+) rows explained \(")]
    private static partial Regex RowsExplainedSoFar();

    [GeneratedRegex(@"Permutation importance: column (\d+)/(\d+)")]
    private static partial Regex PermutedColumn();
}
