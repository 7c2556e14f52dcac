using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace MLNetMixers.Tests.Cli;

/// <summary>
/// Issue 22's cases, as a user meets them: inputs are never destroyed, outputs are whole or absent, Ctrl+C works in
/// every phase, rare classes and numbers as people write them get sentences, not exceptions. Tiny data, one epoch.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class CliReliabilityTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private static readonly string[] Quick = ["--epochs", "1", "--threads", "1", "--no-baseline", "--no-report"];
    private readonly string folder = TestData.NewTempFolder();

    [Fact]
    public void Predict_refuses_an_output_that_is_its_input_by_any_name_and_the_input_is_untouched()
    {
        string model = TrainSmallModel();
        string data = Write("rows.csv", SmallCsv(20, withLabel: false));
        byte[] before = File.ReadAllBytes(data);
        string link = Path.Combine(folder, "link.csv");
        File.CreateSymbolicLink(link, data);
        string relative = Path.GetRelativePath(TestData.RepositoryRoot, data);

        foreach (string output in new[] { data, link, relative, Path.Combine(folder, ".", "rows.csv") })
        {
            var result = CliProcess.Run(Timeout, "predict", "-m", model, "-d", data, "-o", output);
            AssertError(result, $"--output '{output}' is the same file as --dataset");
            Assert.Equal(before, File.ReadAllBytes(data));
        }
        // The model zip is an input too.
        AssertError(CliProcess.Run(Timeout, "predict", "-m", model, "-d", data, "-o", model), "is the same file as --model");
    }

    [Fact]
    public void Predict_output_errors_are_sentences()
    {
        string model = TrainSmallModel();
        string data = Write("rows.csv", SmallCsv(10, withLabel: false));
        AssertError(CliProcess.Run(Timeout, "predict", "-m", model, "-d", data, "-o", folder), $"--output '{folder}' is a folder; give a file name");
        string underFile = Path.Combine(data, "p.csv");
        AssertError(CliProcess.Run(Timeout, "predict", "-m", model, "-d", data, "-o", underFile), $"'{data}' is a file, not a folder");
        Assert.Equal(["model", "rows.csv"], Directory.GetFileSystemEntries(folder).Select(p => Path.GetFileName(p)!).Order().ToArray());
    }

    [Fact]
    public void Predict_warns_about_text_in_numeric_columns_and_echoes_values_exactly_as_read()
    {
        string model = TrainSmallModel();
        // 00037 and 1e308 must come back as written; 'lots' in numeric 'n' is named with its line; é is Latin-1.
        string data = Path.Combine(folder, "rows.csv");
        File.WriteAllBytes(data, System.Text.Encoding.Latin1.GetBytes("id,x,n\n00037,1e308,lots\n00038,0.5,3\ncaf\u00e9,0.25,4\n"));
        string output = Path.Combine(folder, "out.csv");
        var result = CliProcess.Run(Timeout, "predict", "-m", model, "-d", data, "-o", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("warning: Column 'n' of 'rows.csv' is numeric in the model, but 1 value(s) are not numbers and are scored as missing: 'lots' at line 2.", result.Stderr);
        Assert.Contains("warning: CSV file '" + data + "' is not valid UTF-8 (byte 0xE9 at line 4); it is read as Latin-1", result.Stderr);
        Assert.DoesNotContain("warning", result.Stdout);
        var lines = File.ReadAllLines(output, System.Text.Encoding.UTF8);
        Assert.StartsWith("00037,1e308,lots,", lines[1]);
        Assert.StartsWith("00038,0.5,3,", lines[2]);
        Assert.StartsWith("caf\u00e9,0.25,4,", lines[3]);
    }

    [Fact]
    public void A_rare_class_is_split_stratified_on_every_seed_and_a_single_row_class_is_named()
    {
        var rows = new StringBuilder("a,b,y\n");
        for (int i = 0; i < 200; i++)
            rows.Append(CultureInfo.InvariantCulture, $"{i % 13 * 0.1:F1},{i % 7},{(i is 5 or 150 ? "yes" : "no")}\n");
        string data = Write("rare.csv", rows.ToString());
        foreach (string seed in new[] { "1", "2", "3", "4" })
        {
            var result = CliProcess.Run(Timeout, ["classification", "-d", data, "-l", "y", "--seed", seed, "-o", Path.Combine(folder, "out" + seed), .. Quick]);
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains("stratified by class", result.Stdout);
            Assert.True(File.Exists(Path.Combine(folder, "out" + seed, "model.zip")));
        }

        string single = Write("single.csv", "a,y\n1,x\n2,y\n3,x\n4,y\n5,z\n6,x\n");
        string output = Path.Combine(folder, "new", "nested", "out");
        var failed = CliProcess.Run(Timeout, ["classification", "-d", single, "-l", "y", "-o", output, .. Quick]);
        AssertError(failed, "Class 'z' of label column 'y' has only 1 row; the train/test split needs at least 2 rows of every class");
        Assert.False(Directory.Exists(Path.Combine(folder, "new")), "a failed run left folders behind");
    }

    [Fact]
    public void Numbers_as_people_write_them_are_numbers_and_a_column_with_a_typo_is_named()
    {
        var rows = new StringBuilder("inf,thousands,typo,y\n");
        string[] infinities = ["Inf", "-inf", "INFINITY", "\u221E", "-\u221E", "NaN", "1.5", "nan"];
        for (int i = 0; i < 40; i++)
            rows.Append(CultureInfo.InvariantCulture, $"{infinities[i % infinities.Length]},\"{1000 + i * 1234:N0}\",{(i == 7 ? "lots" : (i * 0.5).ToString(CultureInfo.InvariantCulture))},{(i % 2 == 0 ? "a" : "b")}\n");
        string data = Write("numbers.csv", rows.ToString());
        var result = CliProcess.Run(Timeout, ["classification", "-d", data, "-l", "y", "-o", Path.Combine(folder, "out"), .. Quick]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Columns: 2 numeric (inf, thousands), 2 text (typo, y); numbers with a decimal point (inferred; --culture sets it).", result.Stdout);
        Assert.Contains("warning: Column 'typo' is read as text because 1 of its 40 values is not a number (e.g. 'lots' at line 9)", result.Stderr);

        // A semicolon file with decimal commas and dots grouping thousands: inferred, and --culture says so too.
        var semicolon = new StringBuilder("x;z;y\n");
        for (int i = 0; i < 40; i++)
            semicolon.Append(CultureInfo.InvariantCulture, $"{i},{i % 10};{(1000 + i * 137).ToString("N0", CultureInfo.InvariantCulture).Replace(',', '.')};{(i % 2 == 0 ? "a" : "b")}\n");
        string semi = Write("semi.csv", semicolon.ToString());
        var inferred = CliProcess.Run(Timeout, ["classification", "-d", semi, "-l", "y", "-o", Path.Combine(folder, "semi"), .. Quick]);
        Assert.True(inferred.ExitCode == 0, inferred.ToString());
        Assert.Contains("Columns: 2 numeric (x, z), 1 text (y); numbers with a decimal comma (inferred", inferred.Stdout);
        var given = CliProcess.Run(Timeout, ["classification", "-d", semi, "-l", "y", "--culture", "de-DE", "-o", Path.Combine(folder, "semi2"), .. Quick]);
        Assert.Contains("numbers with a decimal comma (--culture)", given.Stdout);
        AssertError(CliProcess.Run(Timeout, ["classification", "-d", semi, "-l", "y", "--culture", "xx-nowhere", .. Quick]), "--culture 'xx-nowhere' is not a culture name");
    }

    [Fact]
    public void A_rerun_replaces_the_previous_run_as_a_whole_and_lists_only_what_it_wrote()
    {
        // Enough rows for LightGBM's leaves of 20 to split.
        string data = Write("train.csv", SmallCsv(100, withLabel: true));
        string output = Path.Combine(folder, "out");
        var first = CliProcess.Run(Timeout, "classification", "-d", data, "-l", "y", "--epochs", "1", "--threads", "1", "--no-report", "-o", output);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(File.Exists(Path.Combine(output, "baseline-lightgbm.zip")));
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");

        var second = CliProcess.Run(Timeout, ["classification", "-d", data, "-l", "y", "-o", output, .. Quick]);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains($"warning: --output '{output}' holds a previous run's files (ConsumeModel.cs, baseline-lightgbm.zip, metrics.json, ", second.Stderr);
        Assert.DoesNotContain("notes.txt", second.Stderr);
        // "Wrote" lists what this run wrote; the first run's baseline is gone with the rest of that run; the user's file stays.
        string wrote = second.Stdout.Split('\n').Single(l => l.StartsWith($"Wrote {output}: ", StringComparison.Ordinal))[$"Wrote {output}: ".Length..].Trim();
        var written = wrote.Split(", ");
        Assert.Contains("model.zip", written);
        Assert.DoesNotContain("baseline-lightgbm.zip", written);
        Assert.Equal(written.Append("notes.txt").Order(StringComparer.Ordinal).ToArray(),
            Directory.GetFileSystemEntries(output).Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(["out", "train.csv"], Directory.GetFileSystemEntries(folder).Select(p => Path.GetFileName(p)!).Order().ToArray());
    }

    [Fact]
    public void Ctrl_C_in_the_report_and_a_kill_leave_the_previous_outputs_whole()
    {
        // A process started in the background of a shell without job control ignores SIGINT, and so do its children:
        // the CLI would never see the Ctrl+C this test sends.
        Assert.SkipWhen(SigIntIgnored(), "SIGINT is ignored in this process (started in the background without job control), so the CLI cannot receive Ctrl+C");
        string data = Write("wide.csv", WideCsv(columns: 300, rows: 60));
        string output = Path.Combine(folder, "out");
        Directory.CreateDirectory(output);
        foreach (string name in new[] { "model.zip", "metrics.json", "ConsumeModel.cs" })
            File.WriteAllText(Path.Combine(output, name), "previous run: " + name);
        var previous = Snapshot(output);

        string[] args = ["classification", "-d", data, "-l", "y", "--epochs", "1", "--threads", "1", "--no-baseline", "-o", output];
        var cancelled = CliProcess.Run(Timeout, ("Explaining predictions", "INT", 1), args);
        Assert.True(cancelled.ExitCode == 130, cancelled.ToString());
        Assert.Contains("Cancelled.", cancelled.Stderr);
        Assert.True(cancelled.Elapsed < TimeSpan.FromSeconds(15), $"exit took {cancelled.Elapsed.TotalSeconds:F1} s after Ctrl+C");
        Assert.Equal(previous, Snapshot(output));

        // A kill leaves its hidden staging folder, which the next run removes.
        CliProcess.Run(Timeout, ("Explaining predictions", "KILL", 1), args);
        Assert.Equal(previous, Snapshot(output, visibleOnly: true));
        Assert.Single(Directory.GetDirectories(output, ".mlnet-mixers.partial-*"));

        // Twice: whichever Ctrl+C ends it, the exit code is 130 and the outputs are as before (the kill's leftover is gone).
        var twice = CliProcess.Run(Timeout, ("Training mixer", "INT", 2), args);
        Assert.True(twice.ExitCode == 130, twice.ToString());
        Assert.Equal(previous, Snapshot(output));
        Assert.True(twice.Elapsed < TimeSpan.FromSeconds(15), $"exit took {twice.Elapsed.TotalSeconds:F1} s after Ctrl+C");
    }

    [Fact]
    public void Option_and_path_errors_are_sentences_naming_the_option()
    {
        string data = Write("train.csv", SmallCsv(30, withLabel: true));
        AssertError(CliProcess.Run(Timeout, "classification", "-d", data, "-l", "y", "--split", "NaN"), "--split must be a number between 0 and 1");
        AssertError(CliProcess.Run(Timeout, "classification", "-d", data, "-l", "y", "-o", data), $"--output '{data}' is an existing file; give a folder");
        AssertError(CliProcess.Run(Timeout, "classification", "-d", data, "-l", "y", "-o", Path.Combine(data, "out")), $"'{data}' is a file, not a folder");
        Assert.Equal(["train.csv"], Directory.GetFileSystemEntries(folder).Select(p => Path.GetFileName(p)!).ToArray());
    }

    [Fact]
    public void An_empty_column_never_shows_internal_names()
    {
        var rows = new StringBuilder("x,Empty,y\n");
        for (int i = 0; i < 40; i++)
            rows.Append(CultureInfo.InvariantCulture, $"{i % 5},,{(i % 2 == 0 ? "a" : "b")}\n");
        string data = Write("empty-column.csv", rows.ToString());
        var result = CliProcess.Run(Timeout, "classification", "-d", data, "-l", "y", "--epochs", "1", "--threads", "1", "--no-report", "-o", Path.Combine(folder, "out"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("__", result.Stdout + result.Stderr);
        Assert.DoesNotContain("'Label'", result.Stdout + result.Stderr);
    }

    [Fact]
    public void Generate_refuses_binary_and_warns_about_latin1_and_one_character_corpora()
    {
        string binary = Path.Combine(folder, "corpus.bin");
        File.WriteAllBytes(binary, [0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x12, 0xFF]);
        AssertError(CliProcess.Run(Timeout, "generate", "--text", binary, "--steps", "1"), $"Text file '{binary}' is binary, not text: it holds a NUL byte at offset 4");

        string one = Write("one.txt", new string('a', 300));
        string output = Path.Combine(folder, "lm");
        var result = CliProcess.Run(Timeout, "generate", "--text", one, "--steps", "2", "--context", "16", "--threads", "1", "--max-tokens", "5", "-o", output);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"warning: '{one}' uses only 1 distinct character", result.Stderr);

        string latin = Path.Combine(folder, "latin.txt");
        File.WriteAllBytes(latin, System.Text.Encoding.Latin1.GetBytes("caf\u00e9 au lait\n\nna\u00efve r\u00e9sum\u00e9\n"));
        var latinRun = CliProcess.Run(Timeout, "generate", "--text", latin, "--steps", "2", "--context", "16", "--threads", "1", "--max-tokens", "5", "-o", output);
        Assert.True(latinRun.ExitCode == 0, latinRun.ToString());
        Assert.Contains($"warning: Text file '{latin}' is not valid UTF-8 (byte 0xE9 at line 1); it is read as Latin-1", latinRun.Stderr);
    }

    internal static string SmallCsv(int rows, bool withLabel)
    {
        var text = new StringBuilder(withLabel ? "id,x,n,y\n" : "id,x,n\n");
        for (int i = 0; i < rows; i++)
            text.Append(CultureInfo.InvariantCulture, $"{i:D5},{i % 9 * 0.25},{i % 4}{(withLabel ? (i % 4 < 2 ? ",a" : ",b") : "")}\n");
        return text.ToString();
    }

    internal static string WideCsv(int columns, int rows)
    {
        var random = new Random(3);
        var text = new StringBuilder(string.Join(',', Enumerable.Range(0, columns).Select(c => $"c{c}")) + ",y\n");
        for (int r = 0; r < rows; r++)
        {
            var values = Enumerable.Range(0, columns).Select(c => c % 10 == 9 ? (random.Next(3) switch { 0 => "red", 1 => "green", _ => "blue" }) : random.NextDouble().ToString("F3", CultureInfo.InvariantCulture)).ToArray();
            text.Append(string.Join(',', values)).Append(r % 2 == 0 ? ",p\n" : ",n\n");
        }
        return text.ToString();
    }

    private string TrainSmallModel()
    {
        string model = Path.Combine(folder, "model");
        var result = CliProcess.Run(Timeout, ["classification", "-d", Write("train.csv", SmallCsv(40, withLabel: true)), "-l", "y", "-o", model, .. Quick]);
        Assert.True(result.ExitCode == 0, result.ToString());
        File.Delete(Path.Combine(folder, "train.csv"));
        return Path.Combine(model, "model.zip");
    }

    private static Dictionary<string, string> Snapshot(string dir, bool visibleOnly = false)
        => Directory.GetFileSystemEntries(dir).Where(p => !visibleOnly || !Path.GetFileName(p).StartsWith('.')).ToDictionary(p => Path.GetFileName(p)!, p => File.Exists(p) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))) : "folder");

    private string Write(string name, string content)
    {
        string path = Path.Combine(folder, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static void AssertError(CliResult result, string expected)
    {
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("error: ", result.Stderr);
        Assert.Contains(expected, result.Stderr.Replace("\n", " ", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Exception", result.Stderr);
    }

    /// <summary>Whether this process ignores SIGINT (bit 2 of /proc/self/status's SigIgn mask; false where there is no /proc).</summary>
    private static bool SigIntIgnored()
    {
        if (!File.Exists("/proc/self/status"))
            return false;
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & 0x2) != 0;
    }
}
