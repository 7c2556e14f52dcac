using Microsoft.ML;
using MLNetMixers.Tests.Compression;
using MLNetMixers.Tests.Text;

namespace MLNetMixers.Tests.Cli;

/// <summary><c>compress</c>, <c>decompress</c> and <c>surprisal</c> run as a user runs them, on a saved language-model zip.</summary>
[Collection(CliCollection.Name)]
public sealed class CliCompressionTests : IClassFixture<CompressionFixture>, IClassFixture<MemoryCodeFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private readonly CompressionFixture models;
    private readonly MemoryCodeFixture codedModels;

    public CliCompressionTests(CompressionFixture models, MemoryCodeFixture codedModels)
    {
        this.models = models;
        this.codedModels = codedModels;
    }

    private static string Save(MixerLanguageModelTransformer model, string folder, string name)
    {
        var ml = new MLContext(1);
        string path = Path.Combine(folder, name);
        ml.Model.Save(model, TextTestHelpers.AsDataView(ml, ["x"]).Schema, path);
        return path;
    }

    [Fact]
    public void Compresses_and_restores_a_file_and_refuses_another_model()
    {
        string folder = TestData.NewTempFolder();
        string model = Save(models.Characters, folder, "lm.zip"), other = Save(models.OtherCharacters, folder, "other.zip");
        string input = Path.Combine(folder, "input.bin");
        File.WriteAllBytes(input, [.. System.Text.Encoding.UTF8.GetBytes(string.Join("\n", TextTestHelpers.FortuneDocuments(10, skip: 500))), 0xFF, 0x00, 0xC3]);

        var compress = CliProcess.Run(Timeout, "compress", "--model", model, "--input", input, "--output", Path.Combine(folder, "input.mmz"));
        Assert.True(compress.ExitCode == 0, compress.ToString());
        Assert.Contains("bits per byte", compress.Stdout);
        var decompress = CliProcess.Run(Timeout, "decompress", "--model", model, "--input", Path.Combine(folder, "input.mmz"), "--output", Path.Combine(folder, "restored.bin"));
        Assert.True(decompress.ExitCode == 0, decompress.ToString());
        Assert.Equal(File.ReadAllBytes(input), File.ReadAllBytes(Path.Combine(folder, "restored.bin")));

        var refused = CliProcess.Run(Timeout, "decompress", "--model", other, "--input", Path.Combine(folder, "input.mmz"), "--output", Path.Combine(folder, "wrong.bin"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("compressed with a different language model", refused.Stderr);
        Assert.DoesNotContain("Exception", refused.Stderr);
        Assert.Empty(Directory.GetFiles(folder, "wrong.bin*"));
    }

    [Fact]
    public void An_encoder_augmented_zip_compresses_with_its_codes_and_refuses_per_token_surprisal()
    {
        string folder = TestData.NewTempFolder();
        string model = Save(codedModels.Coded, folder, "coded.zip");
        string input = Path.Combine(folder, "input.txt");
        File.WriteAllText(input, string.Join("\n", TextTestHelpers.FortuneDocuments(5, skip: 500)));

        var compress = CliProcess.Run(Timeout, "compress", "--model", model, "--input", input, "--output", Path.Combine(folder, "input.mmz"));
        Assert.True(compress.ExitCode == 0, compress.ToString());
        Assert.Contains("bits of memory codes", compress.Stdout);
        var decompress = CliProcess.Run(Timeout, "decompress", "--model", model, "--input", Path.Combine(folder, "input.mmz"), "--output", Path.Combine(folder, "restored.txt"));
        Assert.True(decompress.ExitCode == 0, decompress.ToString());
        Assert.Equal(File.ReadAllBytes(input), File.ReadAllBytes(Path.Combine(folder, "restored.txt")));

        var surprisal = CliProcess.Run(Timeout, "surprisal", "--model", model, "--input", input);
        Assert.Equal(1, surprisal.ExitCode);
        Assert.Contains("encoder-augmented", surprisal.Stderr);
        Assert.DoesNotContain("Exception", surprisal.Stderr);
    }

    [Fact]
    public void Surprisal_prints_bits_per_byte_and_writes_the_html_report()
    {
        string folder = TestData.NewTempFolder();
        string model = Save(models.Characters, folder, "lm.zip");
        string input = Path.Combine(folder, "text.txt");
        File.WriteAllText(input, TextTestHelpers.FortuneDocuments(1, skip: 600)[0]);
        string html = Path.Combine(folder, "report.html");
        var result = CliProcess.Run(Timeout, "surprisal", "--model", model, "--input", input, "--html", html);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"\d\.\d{3} bits per byte", result.Stdout);
        Assert.Contains("data-bits=", File.ReadAllText(html));
    }
}
