using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Cli;

/// <summary><c>retrieval</c> and <c>search</c> end to end on a slice of the Debian package descriptions.</summary>
[Collection(CliCollection.Name)]
public sealed class CliRetrievalTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    /// <summary>The first rows of the shared pairs file, rewritten as RFC 4180 (multi-line descriptions stay quoted).</summary>
    private static string Slice(string folder, int rows)
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromTextFile(TestData.Text("debian-descriptions.csv"), new TextLoader.Options
        {
            Columns = [new("Package", DataKind.String, 0), new("Summary", DataKind.String, 1), new("Description", DataKind.String, 2)],
            Separators = [','], HasHeader = true, AllowQuoting = true, ReadMultilines = true, TrimWhitespace = false,
        });
        var text = new StringBuilder("Package,Summary,Description\n");
        foreach (var row in ml.Data.CreateEnumerable<Row>(data, reuseRowObject: false).Take(rows))
            text.Append($"{Quote(row.Package)},{Quote(row.Summary)},{Quote(row.Description)}\n");
        string path = Path.Combine(folder, "pairs.csv");
        File.WriteAllText(path, text.ToString());
        return path;

        static string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";
    }

    private sealed class Row
    {
        public string Package { get; set; } = "";
        public string Summary { get; set; } = "";
        public string Description { get; set; } = "";
    }

    [Fact]
    public void Trains_evaluates_against_the_baselines_writes_the_zip_and_searches_it()
    {
        string folder = TestData.NewTempFolder();
        string pairs = Slice(folder, 400);
        string output = Path.Combine(folder, "out");
        var train = CliProcess.Run(Timeout, "retrieval", "--dataset", pairs, "--query-col", "Summary", "--document-col", "Description",
            "--split", "0.1", "--train-time", "4s", "--pretrain-steps", "3", "--context", "32", "--width", "16", "--depth", "1",
            "--batch-size", "8", "--architectures", "masked-mixer,transformer", "--measure-pooling", "--threads", "1", "--output", output);
        Assert.True(train.ExitCode == 0, train.ToString());

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        Assert.Equal(40, metrics.RootElement.GetProperty("heldOutPairs").GetInt32());
        var methods = metrics.RootElement.GetProperty("methods").EnumerateArray().ToArray();
        var names = methods.Select(m => m.GetProperty("name").GetString()!).ToArray();
        Assert.Contains("BM25 (Lucene.Net)", names);
        Assert.Contains(names, n => n.StartsWith("TF-IDF", StringComparison.Ordinal));
        Assert.Contains("masked-mixer LM, frozen (mean)", names);
        Assert.Contains("transformer LM, frozen (last token)", names);
        Assert.Contains("masked-mixer InfoNCE from the LM", names);
        Assert.Contains("transformer InfoNCE from the LM", names);
        foreach (var m in methods)
        {
            // 40 held-out pairs: top-1 among 32 is reported, among 128 and 1024 is not possible.
            var top1 = m.GetProperty("top1AmongK");
            Assert.InRange(top1.GetProperty("32").GetDouble(), 0, 1);
            Assert.False(top1.TryGetProperty("128", out _));
        }
        // BM25 on real summaries finds most descriptions among 32; chance is 3 %.
        double bm25 = methods.Single(m => m.GetProperty("name").GetString() == "BM25 (Lucene.Net)").GetProperty("top1AmongK").GetProperty("32").GetDouble();
        Assert.True(bm25 > 0.5, $"BM25 top-1 among 32: {bm25}");

        var search = CliProcess.Run(Timeout, "search", "--model", Path.Combine(output, "model.zip"), "--index", pairs, "--id-col", "Package",
            "--query", "Real-time strategy game of ancient warfare", "--top", "3", "--threads", "1");
        Assert.True(search.ExitCode == 0, search.ToString());
        Assert.Contains("Indexed 400 documents of 'Description'", search.Stdout);
        Assert.Contains("  1. ", search.Stdout);
        Assert.Contains("  3. ", search.Stdout);
        Assert.DoesNotContain("  4. ", search.Stdout);
    }

    [Fact]
    public void Missing_columns_and_wrong_models_are_named()
    {
        string folder = TestData.NewTempFolder();
        string pairs = Path.Combine(folder, "pairs.csv");
        File.WriteAllText(pairs, "Summary,Description\na,\"b\nc\"\nd,e\n");
        var missing = CliProcess.Run(Timeout, "retrieval", "--dataset", pairs, "--query-col", "Title", "--document-col", "Description");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("has no column 'Title'", missing.Stderr);
        Assert.Contains("Summary, Description", missing.Stderr);
        Assert.DoesNotContain("   at ", missing.Stderr);

        var dropout = CliProcess.Run(Timeout, "retrieval", "--dataset", pairs, "--query-col", "Summary", "--document-col", "Description", "--token-dropout", "1");
        Assert.Equal(1, dropout.ExitCode);
        Assert.Contains("--token-dropout must be at least 0 and below 1; got 1.", dropout.Stderr);
        Assert.DoesNotContain("   at ", dropout.Stderr);

        var notAModel = CliProcess.Run(Timeout, "search", "--model", pairs, "--index", pairs, "--query", "x");
        Assert.Equal(1, notAModel.ExitCode);
        Assert.Contains("is not an ML.NET model zip", notAModel.Stderr);
    }
}
