using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace MLNetMixers;

/// <summary>
/// Field importance over a dataset and per-row character attributions, written as CSV and as one self-contained HTML
/// page (Chart.js embedded: nothing is loaded from the network when it is viewed). Create it with
/// <see cref="MixerExplainer.CreateReport"/>.
/// </summary>
public sealed class AttributionReport
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
    internal const string HtmlFileName = "attribution-report.html";
    internal const string FieldCsvFileName = "field-importance.csv";
    internal const string CharacterCsvFileName = "character-attributions.csv";

    internal AttributionReport(string title, string method, IReadOnlyList<FieldImportance> fieldImportance,
        IReadOnlyList<FieldImportance>? permutationImportance, string? permutationMetric, IReadOnlyList<ExplainedRow> rows)
    {
        Title = title;
        Method = method;
        FieldImportance = fieldImportance;
        PermutationImportance = permutationImportance;
        PermutationMetric = permutationMetric;
        Rows = rows;
    }

    /// <summary>The page title.</summary>
    public string Title { get; }

    /// <summary>The attribution method used.</summary>
    public string Method { get; }

    /// <summary>Mean absolute attribution per field over the rows explained, most important first.</summary>
    public IReadOnlyList<FieldImportance> FieldImportance { get; }

    /// <summary>Permutation importance per raw input column, when it was computed.</summary>
    public IReadOnlyList<FieldImportance>? PermutationImportance { get; }

    /// <summary>The metric whose drop <see cref="PermutationImportance"/> reports.</summary>
    public string? PermutationMetric { get; }

    internal IReadOnlyList<ExplainedRow> Rows { get; }

    /// <summary>
    /// Writes <c>attribution-report.html</c>, <c>field-importance.csv</c> and <c>character-attributions.csv</c> into
    /// <paramref name="folder"/> (created when missing). Returns the HTML file's path.
    /// </summary>
    public string Save(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, FieldCsvFileName), FieldCsv(), Utf8);
        File.WriteAllText(Path.Combine(folder, CharacterCsvFileName), CharacterCsv(), Utf8);
        string html = Path.Combine(folder, HtmlFileName);
        File.WriteAllText(html, ToHtml(), Utf8);
        return html;
    }

    /// <summary>The field-importance table as CSV (one row per field, attribution and permutation importance side by side).</summary>
    public string FieldCsv()
    {
        var sb = new StringBuilder("field,rank,mean_abs_attribution,std,stderr,rows,permutation_drop,permutation_std,permutation_repeats\n");
        for (int i = 0; i < FieldImportance.Count; i++)
        {
            var f = FieldImportance[i];
            var p = PermutationFor(f.Field);
            sb.Append(Csv(f.Field)).Append(',').Append(i + 1).Append(',')
              .Append(Num(f.Mean)).Append(',').Append(Num(f.StandardDeviation)).Append(',').Append(Num(f.StandardError)).Append(',').Append(f.Count).Append(',')
              .Append(p is null ? "" : Num(p.Mean)).Append(',').Append(p is null ? "" : Num(p.StandardDeviation)).Append(',').Append(p?.Count.ToString(CultureInfo.InvariantCulture) ?? "")
              .Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Per-row character scores as CSV: row, position, field, character, score, and the field's raw value.</summary>
    public string CharacterCsv()
    {
        var sb = new StringBuilder("row,prediction,position,field,character,score,value\n");
        foreach (var row in Rows)
        {
            for (int p = 0; p < row.Characters.Length; p++)
            {
                sb.Append(row.Row).Append(',').Append(Csv(row.Prediction)).Append(',').Append(p).Append(',')
                  .Append(Csv(row.FieldOfPosition[p] >= 0 ? row.FieldNames[row.FieldOfPosition[p]] : "")).Append(',')
                  .Append(Csv(row.Characters[p])).Append(',').Append(Num(row.Scores[p])).Append(',')
                  .Append(Csv(row.FieldOfPosition[p] >= 0 && row.FieldOfPosition[p] < row.FieldValues.Length ? row.FieldValues[row.FieldOfPosition[p]] ?? "" : ""))
                  .Append('\n');
            }
        }
        return sb.ToString();
    }

    private FieldImportance? PermutationFor(string field)
        => PermutationImportance?.FirstOrDefault(p => p.Field == field)
           ?? PermutationImportance?.FirstOrDefault(p => field.StartsWith(p.Field + "[", StringComparison.Ordinal) || field.StartsWith(p.Field + ".", StringComparison.Ordinal));

    private static string Num(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static string Csv(string s)
        => s.IndexOfAny([',', '"', '\n', '\r']) >= 0 || s.StartsWith(' ') || s.EndsWith(' ') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    private static string H(string s) => WebUtility.HtmlEncode(s);

    /// <summary>The self-contained HTML page.</summary>
    public string ToHtml()
    {
        var chartData = new
        {
            attribution = new { labels = FieldImportance.Select(f => f.Field).ToArray(), values = FieldImportance.Select(f => f.Mean).ToArray(), errors = FieldImportance.Select(f => f.StandardError).ToArray() },
            permutation = PermutationImportance is null ? null : new
            {
                labels = PermutationImportance.OrderByDescending(p => p.Mean).Select(p => p.Field).ToArray(),
                values = PermutationImportance.OrderByDescending(p => p.Mean).Select(p => p.Mean).ToArray(),
            },
            permutationMetric = PermutationMetric,
        };
        // System.Text.Json's default encoder escapes <, >, & and quotes, so data cannot close the script element.
        string json = JsonSerializer.Serialize(chartData);

        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(H(Title)).Append("</title>\n<style>\n")
          .Append("body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1150px}\n")
          .Append("h1{font-size:1.4em}h2{font-size:1.15em;margin-top:28px}\n")
          .Append(".chart{position:relative;height:").Append(Math.Max(160, 26 * FieldImportance.Count + 60)).Append("px;max-width:1100px}\n")
          .Append("table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\n")
          .Append(".row{margin:10px 0;padding:6px;border-bottom:1px solid #eee}.pred{font-size:.9em;color:#444;margin-bottom:4px}\n")
          .Append(".seq{font-family:ui-monospace,monospace;font-size:15px;line-height:2em;white-space:pre-wrap}\n")
          .Append(".field{display:inline-block;border:1px solid #888;border-radius:3px;margin:0 3px 3px 0;padding:0 1px}\n")
          .Append(".field .name{display:block;font-family:system-ui,sans-serif;font-size:10px;color:#666;line-height:1.2em}\n")
          .Append("table.values{margin-top:6px;font-size:.85em}td.value{font-family:ui-monospace,monospace;text-align:left}\n")
          .Append(".ch{display:inline-block;min-width:.65em;text-align:center}.legend span{padding:0 6px}\n")
          .Append("</style></head>\n<body>\n<h1>").Append(H(Title)).Append("</h1>\n<p>Attribution method: <b>").Append(H(Method)).Append("</b>. ")
          .Append(Rows.Count).Append(" rows shown; field importance is the mean |field attribution| over the rows explained.</p>\n")
          .Append("<h2>Field importance</h2>\n<div class=\"chart\"><canvas id=\"importance\" role=\"img\" aria-label=\"Field importance bar chart\"></canvas></div>\n");
        if (PermutationImportance is not null)
            sb.Append("<h2>Permutation importance (drop in ").Append(H(PermutationMetric ?? "metric")).Append(" when a raw column is shuffled)</h2>\n")
              .Append("<div class=\"chart\"><canvas id=\"permutation\" role=\"img\" aria-label=\"Permutation importance bar chart\"></canvas></div>\n");

        sb.Append("<h2>Table</h2>\n<table id=\"importance-table\"><tr><th>field</th><th>rank</th><th>mean |attribution|</th><th>std</th>")
          .Append(PermutationImportance is null ? "" : "<th>permutation drop</th><th>std</th>").Append("</tr>\n");
        for (int i = 0; i < FieldImportance.Count; i++)
        {
            var f = FieldImportance[i];
            var p = PermutationFor(f.Field);
            sb.Append("<tr><td>").Append(H(f.Field)).Append("</td><td>").Append(i + 1).Append("</td><td>").Append(Num(f.Mean)).Append("</td><td>").Append(Num(f.StandardDeviation)).Append("</td>");
            if (PermutationImportance is not null)
                sb.Append("<td>").Append(p is null ? "" : Num(p.Mean)).Append("</td><td>").Append(p is null ? "" : Num(p.StandardDeviation)).Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");

        sb.Append("<h2>Rows</h2>\n<p class=\"legend\"><span style=\"background:rgba(214,39,40,.6)\">raises the explained output</span>")
          .Append("<span style=\"background:rgba(31,119,180,.6)\">lowers it</span> (shade = |score| relative to the row's largest)</p>\n");
        foreach (var row in Rows)
            AppendRow(sb, row);

        sb.Append("<script>\n").Append(ChartLibrary.Value).Append("\n</script>\n<script>\nconst reportData = ").Append(json).Append(";\n")
          .Append(RenderScript).Append("\n</script>\n</body></html>\n");
        return sb.ToString();
    }

    private static void AppendRow(StringBuilder sb, ExplainedRow row)
    {
        float max = 0;
        foreach (float s in row.Scores)
            max = Math.Max(max, Math.Abs(s));
        sb.Append("<div class=\"row\" data-row=\"").Append(row.Row).Append("\"><div class=\"pred\">Row ").Append(row.Row).Append(" · prediction: <b>")
          .Append(H(row.Prediction)).Append("</b> · explained: ").Append(H(row.Explained)).Append("</div><div class=\"seq\">");
        int p = 0;
        while (p < row.Characters.Length)
        {
            int field = row.FieldOfPosition[p];
            if (field < 0)
            {
                AppendCharacter(sb, row, p, max, "separator");
                p++;
                continue;
            }
            sb.Append("<span class=\"field\" data-field=\"").Append(H(row.FieldNames[field])).Append("\"><span class=\"name\">").Append(H(row.FieldNames[field])).Append("</span>");
            while (p < row.Characters.Length && row.FieldOfPosition[p] == field)
            {
                AppendCharacter(sb, row, p, max, row.FieldNames[field]);
                p++;
            }
            sb.Append("</span>");
        }
        sb.Append("</div>");
        AppendFieldValues(sb, row);
        sb.Append("</div>\n");
    }

    /// <summary>
    /// The row's fields as the data holds them, beside their attribution: the heat map shows the encoded symbols, and
    /// a number encoded as one value token reads as a letter there.
    /// </summary>
    private static void AppendFieldValues(StringBuilder sb, ExplainedRow row)
    {
        if (row.FieldValues.Length == 0)
            return;
        float max = 0;
        foreach (float s in row.FieldScores)
            max = Math.Max(max, Math.Abs(s));
        sb.Append("<table class=\"values\"><tr><th>field</th><th>value</th><th>attribution</th></tr>");
        for (int f = 0; f < row.FieldNames.Length; f++)
        {
            float s = f < row.FieldScores.Length ? row.FieldScores[f] : 0;
            double alpha = max > 0 ? Math.Round(0.85 * Math.Abs(s) / max, 3) : 0;
            string rgb = s >= 0 ? "214,39,40" : "31,119,180";
            sb.Append("<tr data-field=\"").Append(H(row.FieldNames[f])).Append("\"><td>").Append(H(row.FieldNames[f]))
              .Append("</td><td class=\"value\">").Append(H(f < row.FieldValues.Length ? row.FieldValues[f] ?? "" : ""))
              .Append("</td><td style=\"background:rgba(").Append(rgb).Append(',').Append(alpha.ToString(CultureInfo.InvariantCulture)).Append(")\">")
              .Append(Num(s)).Append("</td></tr>");
        }
        sb.Append("</table>");
    }

    private static void AppendCharacter(StringBuilder sb, ExplainedRow row, int p, float max, string fieldName)
    {
        float s = row.Scores[p];
        double alpha = max > 0 ? Math.Round(0.85 * Math.Abs(s) / max, 3) : 0;
        string rgb = s >= 0 ? "214,39,40" : "31,119,180";
        sb.Append("<span class=\"ch\" style=\"background:rgba(").Append(rgb).Append(',').Append(alpha.ToString(CultureInfo.InvariantCulture))
          .Append(")\" title=\"").Append(H($"{fieldName} [{p}] {row.Characters[p]}: {s.ToString("G4", CultureInfo.InvariantCulture)}"))
          .Append("\" data-score=\"").Append(s.ToString("G6", CultureInfo.InvariantCulture)).Append("\">")
          .Append(H(row.Characters[p])).Append("</span>");
    }

    private static readonly Lazy<string> ChartLibrary = new(() =>
    {
        using var stream = typeof(AttributionReport).Assembly.GetManifestResourceStream("MLNetMixers.Attribution.chart.umd.js")
            ?? throw new InvalidOperationException("The embedded Chart.js resource is missing from MLNetMixers.dll.");
        using var reader = new StreamReader(stream);
        // A literal "</script" cannot occur in the minified library, but guard anyway: it would end the element early.
        return reader.ReadToEnd().Replace("</script", "<\\/script", StringComparison.OrdinalIgnoreCase);
    });

    // Draws the charts without animation, then records on <body> that they drew (and how many pixels are inked), which
    // the headless-browser check (eng/check-report-renders.sh) reads back from the DOM.
    private const string RenderScript = """
        function inked(canvas) {
          const ctx = canvas.getContext('2d');
          const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          let n = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) n++;
          return n;
        }
        function bar(id, labels, values, label, color) {
          const canvas = document.getElementById(id);
          const chart = new Chart(canvas, {
            type: 'bar',
            data: { labels: labels, datasets: [{ label: label, data: values, backgroundColor: color }] },
            options: { indexAxis: 'y', animation: false, responsive: true, maintainAspectRatio: false,
                       plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } }
          });
          return inked(canvas);
        }
        try {
          let rendered = 0, pixels = 0;
          pixels += bar('importance', reportData.attribution.labels, reportData.attribution.values, 'mean |attribution|', 'rgba(214,39,40,0.75)');
          rendered++;
          if (reportData.permutation) {
            pixels += bar('permutation', reportData.permutation.labels, reportData.permutation.values, 'drop in ' + reportData.permutationMetric, 'rgba(31,119,180,0.75)');
            rendered++;
          }
          document.body.setAttribute('data-charts-rendered', String(rendered));
          document.body.setAttribute('data-chart-pixels', String(pixels));
        } catch (e) {
          document.body.setAttribute('data-chart-error', String(e));
        }
        """;
}

/// <summary>One explained row, ready to display.</summary>
internal sealed record ExplainedRow(
    long Row,
    string Prediction,
    string Explained,
    string[] Characters,
    float[] Scores,
    int[] FieldOfPosition,
    string[] FieldNames)
{
    /// <summary>Each field's raw value as read from the data (null for a field whose source column is not in the data).</summary>
    public string?[] FieldValues { get; init; } = [];

    /// <summary>Each field's attribution (the explainer's <see cref="MixerExplainOptions.Aggregation"/>).</summary>
    public float[] FieldScores { get; init; } = [];
}
