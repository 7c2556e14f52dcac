using System.Text.Json;

namespace MLNetMixers.Tests.Cli;

/// <summary><c>generate</c>'s --train-time, --architecture, --width, --depth, --tokenizer and --context-warmup.</summary>
[Collection(CliCollection.Name)]
public sealed class CliGenerateModelOptionsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public void Trains_the_chosen_model_for_the_chosen_time_and_generates_from_the_zip()
    {
        string folder = TestData.NewTempFolder();
        string corpus = Path.Combine(folder, "fortunes.txt");
        int seen = 0;
        File.WriteAllLines(corpus, File.ReadLines(TestData.Text("fortunes.txt")).TakeWhile(line => (line == "%" ? ++seen : seen) < 200));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = CliProcess.Run(Timeout, "generate", "--text", corpus, "--separator", "%", "--train-time", "4s", "--architecture", "llama",
            "--width", "32", "--depth", "1", "--tokenizer", "subwords", "--context", "32", "--threads", "1", "--output", folder, "--prompt", "The ");
        Assert.True(train.ExitCode == 0, train.ToString());

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "metrics.json")));
        var root = metrics.RootElement;
        Assert.Equal("LlamaTransformer", root.GetProperty("architecture").GetString());
        Assert.Equal("Subwords", root.GetProperty("tokenization").GetString());
        Assert.Equal(32, root.GetProperty("width").GetInt32());
        Assert.Equal(1, root.GetProperty("depth").GetInt32());
        Assert.Equal(4, root.GetProperty("heads").GetInt32());
        Assert.Equal(0, root.GetProperty("contextWarmup").GetDouble()); // only transformer and srm warm their context up by default
        // The 4-gram reference is computed on the same held-out documents, in the same unit as the model's figure.
        var heldOut = root.GetProperty("heldOut");
        Assert.InRange(heldOut.GetProperty("fourGramNatsPerCharacter").GetDouble(), 1.0, 4.0);
        Assert.True(heldOut.GetProperty("natsPerCharacter").GetDouble() > 0);
        Assert.Equal(4, root.GetProperty("trainTimeSeconds").GetDouble());
        // The budget bounds training (one step may run past it), so the run cannot take minutes.
        double trainingSeconds = root.GetProperty("trainingSeconds").GetDouble();
        Assert.InRange(trainingSeconds, 3.5, 60);

        var generate = CliProcess.Run(Timeout, "generate", "--model", Path.Combine(folder, "model.zip"), "--prompt", "Love is", "--max-tokens", "10", "--seed", "7");
        Assert.True(generate.ExitCode == 0, generate.ToString());
        Assert.StartsWith("Love is", generate.Stdout);
    }

    [Theory]
    [InlineData("--architecture", "lstm", "--architecture 'lstm' is not one of masked, toeplitz, transformer, llama, srm.")]
    [InlineData("--tokenizer", "words", "--tokenizer 'words' is not one of characters, bytes, subwords.")]
    [InlineData("--train-time", "soon", "--train-time 'soon' is not a duration")]
    [InlineData("--width", "0", "--width must be at least 1; got 0.")]
    [InlineData("--heads", "0", "--heads must be at least 1; got 0.")]
    [InlineData("--context-warmup", "2", "--context-warmup 2 is not between 0 and 1.")]
    public void Bad_model_options_are_one_clear_sentence(string option, string value, string message)
    {
        string folder = TestData.NewTempFolder();
        string corpus = Path.Combine(folder, "tiny.txt");
        File.WriteAllText(corpus, "one document\n\nanother document\n");
        var result = CliProcess.Run(Timeout, "generate", "--text", corpus, option, value, "--output", folder);
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(message, result.Stderr);
    }
}
