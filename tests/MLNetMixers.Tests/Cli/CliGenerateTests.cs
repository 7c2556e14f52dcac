using System.Text.Json;

namespace MLNetMixers.Tests.Cli;

/// <summary><c>generate</c>: trains a character-level language model on part of a real corpus, then generates from the saved zip.</summary>
[Collection(CliCollection.Name)]
public sealed class CliGenerateTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public void Trains_on_a_text_file_then_generates_from_the_zip()
    {
        string folder = TestData.NewTempFolder();
        // The first 400 fortunes: enough for the model to learn English letter frequencies in a few steps.
        string corpus = Path.Combine(folder, "fortunes.txt");
        File.WriteAllLines(corpus, File.ReadLines(TestData.Text("fortunes.txt")).TakeWhile(CountDocuments(400)));

        // Trained in bfloat16 (--precision), which must learn as well and, where this CPU's bfloat16 products are clearly
        // slower than its float32 ones, say so without --verbose.
        var train = CliProcess.Run(Timeout, "generate", "--text", corpus, "--separator", "%", "--steps", "30", "--context", "64",
            "--threads", "1", "--precision", "bfloat16", "--output", folder, "--prompt", "The ");
        Assert.True(train.ExitCode == 0, train.ToString());
        Assert.Contains("400 documents (380 for training, 20 held out)", train.Stdout);
        bool warned = System.Text.RegularExpressions.Regex.Replace(train.Stdout, @"\s+", " ")
            .Contains("warning: MixerPrecision.BFloat16 was requested but bfloat16 matrix products are slower", StringComparison.Ordinal);
        double speedup = MLNetMixers.Training.BFloat16Training.CpuMatmulSpeeds.BFloat16Speedup;
        if (speedup < 0.8 || speedup > 1.25) // near 1 the CLI's own measurement may fall either side
            Assert.True(warned == speedup < 1, $"bfloat16 at {speedup:F2}x float32's speed here; warned: {warned}\n{train}");

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "metrics.json")));
        Assert.Equal("bfloat16", metrics.RootElement.GetProperty("precision").GetString());
        double bitsPerByte = metrics.RootElement.GetProperty("heldOut").GetProperty("bitsPerByte").GetDouble();
        // Uniform guessing over the ~80 characters in the text costs log2(80) = 6.3 bits; a few steps learn letter frequencies.
        Assert.True(bitsPerByte < 5.5, $"held-out bits per byte {bitsPerByte:F3}\n{train}");

        var generate = CliProcess.Run(Timeout, "generate", "--model", Path.Combine(folder, "model.zip"), "--prompt", "Love is", "--max-tokens", "40", "--seed", "7");
        Assert.True(generate.ExitCode == 0, generate.ToString());
        string text = generate.Stdout.TrimEnd('\n');
        Assert.StartsWith("Love is", text);
        Assert.True(text.Length > "Love is".Length + 10, $"generated: '{text}'");

        var again = CliProcess.Run(Timeout, "generate", "--model", Path.Combine(folder, "model.zip"), "--prompt", "Love is", "--max-tokens", "40", "--seed", "7");
        Assert.Equal(text, again.Stdout.TrimEnd('\n'));
    }

    [Fact]
    public void Trains_a_structured_recurrent_mixer_and_continues_a_file_of_prompts_in_order()
    {
        string folder = TestData.NewTempFolder();
        string corpus = Path.Combine(folder, "fortunes.txt");
        File.WriteAllLines(corpus, File.ReadLines(TestData.Text("fortunes.txt")).TakeWhile(CountDocuments(200)));
        var train = CliProcess.Run(Timeout, "generate", "--text", corpus, "--separator", "%", "--steps", "20", "--context", "32",
            "--threads", "1", "--architecture", "srm", "--output", folder);
        Assert.True(train.ExitCode == 0, train.ToString());
        string model = Path.Combine(folder, "model.zip");

        string prompts = Path.Combine(folder, "prompts.txt");
        File.WriteAllLines(prompts, ["Love is", "", "The \\ end"]);
        var batch = CliProcess.Run(Timeout, "generate", "--model", model, "--batch", prompts, "--max-tokens", "30", "--seed", "3");
        Assert.True(batch.ExitCode == 0, batch.ToString());
        var lines = batch.Stdout.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("Love is", lines[0]);
        Assert.StartsWith("The \\\\ end", lines[2]);   // backslashes escaped, so each text stays on its own line
        // The first line is what the prompt gives alone.
        var alone = CliProcess.Run(Timeout, "generate", "--model", model, "--prompt", "Love is", "--max-tokens", "30", "--seed", "3");
        Assert.Equal(alone.Stdout.TrimEnd('\n').Replace("\\", "\\\\").Replace("\n", "\\n"), lines[0]);

        var wrong = CliProcess.Run(Timeout, "generate", "--text", corpus, "--architecture", "lstm");
        Assert.True(wrong.ExitCode == 1, wrong.ToString());
        Assert.Contains("--architecture 'lstm' is not one of masked, toeplitz, transformer, llama, srm.", wrong.Stderr);
        var missing = CliProcess.Run(Timeout, "generate", "--model", model, "--batch", Path.Combine(folder, "none.txt"));
        Assert.True(missing.ExitCode == 1, missing.ToString());
        Assert.Contains("File not found", missing.Stderr);
    }

    [Fact]
    public void Generate_needs_exactly_one_of_text_and_model()
    {
        var result = CliProcess.Run(Timeout, "generate", "--prompt", "x");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("error: Give either --text (train a model) or --model (generate from one).", result.Stderr);
    }

    private static Func<string, bool> CountDocuments(int documents)
    {
        int seen = 0;
        return line => (line == "%" ? ++seen : seen) < documents;
    }
}
