using System.Globalization;
using System.Net;
using System.Text;

namespace MLNetMixers;

/// <summary>
/// Texts shaded by what each piece cost under a language model, as one self-contained HTML page in the style of the
/// attribution report: the darker the red, the more bits; hovering a piece shows its bits.
/// </summary>
public sealed class SurprisalReport
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Bits at which a piece is shaded fully (pieces above it are as dark).</summary>
    internal const double SaturationBits = 12;

    /// <summary>A report of <paramref name="documents"/>: each a label and its surprisal.</summary>
    public SurprisalReport(string title, IReadOnlyList<(string Label, TextSurprisal Surprisal)> documents)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(documents);
        Title = title;
        Documents = documents;
    }

    /// <summary>The page title.</summary>
    public string Title { get; }

    /// <summary>The documents shown.</summary>
    public IReadOnlyList<(string Label, TextSurprisal Surprisal)> Documents { get; }

    /// <summary>Writes the HTML page to <paramref name="path"/> (its folder is created when missing).</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder))
            Directory.CreateDirectory(folder);
        File.WriteAllText(path, ToHtml(), Utf8);
    }

    private static string H(string s) => WebUtility.HtmlEncode(s);

    private static string Num(double v, string format = "F2") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>The self-contained HTML page.</summary>
    public string ToHtml()
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(H(Title)).Append("</title>\n<style>\n")
          .Append("body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1150px}\n")
          .Append("h1{font-size:1.4em}h2{font-size:1.15em;margin-top:28px}\n")
          .Append("table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\n")
          .Append(".row{margin:10px 0;padding:6px;border-bottom:1px solid #eee}.pred{font-size:.9em;color:#444;margin-bottom:4px}\n")
          .Append(".seq{font-family:ui-monospace,monospace;font-size:15px;line-height:1.9em;white-space:pre-wrap}\n")
          .Append(".ch{display:inline}.legend span{padding:0 6px}\n")
          .Append("</style></head>\n<body>\n<h1>").Append(H(Title)).Append("</h1>\n")
          .Append("<p>Each piece of text is shaded by its surprisal, −log2 p under the model (the bits an arithmetic coder driven by the model spends on it), ")
          .Append("read after an end of text.</p>\n<p class=\"legend\">");
        foreach (double bits in new[] { 1.0, 3, 6, SaturationBits })
            sb.Append("<span style=\"background:").Append(Shade(bits)).Append("\">").Append(Num(bits, "F0")).Append(" bits</span>");
        sb.Append("</p>\n<h2>Summary</h2>\n<table id=\"summary\"><tr><th>document</th><th>tokens</th><th>bytes</th><th>bits</th><th>bits per byte</th></tr>\n");
        foreach (var (label, s) in Documents)
            sb.Append("<tr><td>").Append(H(label)).Append("</td><td>").Append(s.Bits.Length).Append("</td><td>").Append(s.Bytes)
              .Append("</td><td>").Append(Num(s.TotalBits, "F0")).Append("</td><td>").Append(s.Bytes == 0 ? "" : Num(s.BitsPerByte, "F3")).Append("</td></tr>\n");
        sb.Append("</table>\n<h2>Texts</h2>\n");
        foreach (var (label, s) in Documents)
        {
            sb.Append("<div class=\"row\"><div class=\"pred\"><b>").Append(H(label)).Append("</b> · ")
              .Append(s.Bytes == 0 ? "empty" : Num(s.BitsPerByte, "F3") + " bits per byte").Append("</div><div class=\"seq\">");
            foreach (var span in s.Spans)
                sb.Append("<span class=\"ch\" style=\"background:").Append(Shade(span.Bits)).Append("\" title=\"")
                  .Append(H(Num(span.Bits) + " bits")).Append("\" data-bits=\"").Append(Num(span.Bits, "G6")).Append("\">")
                  .Append(H(span.Text)).Append("</span>");
            sb.Append("</div></div>\n");
        }
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    /// <summary>The attribution report's red, its alpha growing with the bits up to <see cref="SaturationBits"/>.</summary>
    private static string Shade(double bits)
        => "rgba(214,39,40," + Num(Math.Round(0.85 * Math.Clamp(bits / SaturationBits, 0, 1), 3), "G4") + ")";
}
