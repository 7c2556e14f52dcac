using System.Globalization;
using Microsoft.ML.OnnxRuntime;

namespace MLNetMixers.Tests.Cli;

/// <summary>
/// The ONNX deployment path as users take it: the training command writes model-onnx.zip beside model.zip; predict,
/// ConsumeModel.cs and a consumer program without libtorch (samples/OnnxScoring) score with it; export writes the graph.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class CliOnnxTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public void Regression_writes_an_onnx_scoring_zip_that_predict_consume_code_and_a_consumer_without_libtorch_use()
    {
        string output = TestData.NewTempFolder();
        string dataset = TestData.Tabular("concrete.csv");
        var run = CliProcess.Run(Timeout, "regression", "--dataset", dataset, "--label-col", "compressive_strength",
            "--epochs", "2", "--threads", "1", "--seed", "3", "--output", output, "--no-baseline", "--no-report");
        Assert.True(run.ExitCode == 0, run.ToString());
        string torchZip = Path.Combine(output, "model.zip"), onnxZip = Path.Combine(output, "model-onnx.zip");
        Assert.True(File.Exists(onnxZip), run.ToString());

        // predict takes the ONNX zip exactly as it takes model.zip, with the same columns and scores (1e-4).
        var torchRows = Predict(torchZip, dataset, output, "torch.csv");
        var onnxRows = Predict(onnxZip, dataset, output, "onnx.csv");
        Assert.Equal(torchRows[0], onnxRows[0]);
        Assert.Equal(1031, onnxRows.Length);
        int score = Array.IndexOf(torchRows[0].Split(','), "Score");
        Assert.True(score >= 0, torchRows[0]);
        for (int i = 1; i < torchRows.Length; i++)
        {
            double want = double.Parse(torchRows[i].Split(',')[score], CultureInfo.InvariantCulture);
            double got = double.Parse(onnxRows[i].Split(',')[score], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(want - got) <= 1e-4 * Math.Max(1, Math.Abs(want)), $"row {i}: TorchSharp {want}, ONNX Runtime {got}");
        }

        // ConsumeModel.cs compiles and predicts its sample row from either zip.
        var assembly = ConsumeModelCompiler.Compile(Path.Combine(output, "ConsumeModel.cs"));
        float torchScore = ConsumeModelCompiler.Get<float>(ConsumeModelCompiler.PredictSample(assembly, torchZip), "Score");
        var onnxAssembly = ConsumeModelCompiler.Compile(Path.Combine(output, "ConsumeModel.cs"));
        float onnxScore = ConsumeModelCompiler.Get<float>(ConsumeModelCompiler.PredictSample(onnxAssembly, onnxZip), "Score");
        Assert.Equal(torchScore, onnxScore, 1e-4 * Math.Max(1, Math.Abs(torchScore)));

        // A program that references ONNX Runtime and MLNetMixers but no TorchSharp backend scores the zip; libtorch is
        // neither in its folder nor mapped into the process.
        string consumer = FindConsumer();
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(consumer)!, "libtorch*", SearchOption.AllDirectories));
        var scored = CliProcess.RunDll(consumer, Timeout, onnxZip, dataset, "3");
        Assert.True(scored.ExitCode == 0, scored.ToString());
        Assert.Contains("libtorch loaded: no; ONNX Runtime loaded: yes", scored.Stdout);
        var firstScore = float.Parse(scored.Stdout.Split('\n')[1].Trim(), CultureInfo.InvariantCulture);
        double firstTorch = double.Parse(torchRows[1].Split(',')[score], CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(firstTorch - firstScore) <= 1e-3 * Math.Max(1, Math.Abs(firstTorch)), scored.ToString());

        // export: the network as an ONNX graph ONNX Runtime loads; an ONNX scoring zip has no network left to export.
        string graph = Path.Combine(output, "exported", "model.onnx");
        var export = CliProcess.Run(Timeout, "export", "--model", torchZip, "--output", graph);
        Assert.True(export.ExitCode == 0, export.ToString());
        using (var session = new InferenceSession(graph))
            Assert.Equal(["score"], session.OutputMetadata.Keys);
        var again = CliProcess.Run(Timeout, "export", "--model", onnxZip, "--output", graph);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("no mixer prediction model", again.Stderr);
        Assert.DoesNotContain("   at ", again.Stderr);
        using (var session = new InferenceSession(graph))
            Assert.Equal(["score"], session.OutputMetadata.Keys); // the failed export left the earlier file intact
    }

    private static string[] Predict(string model, string dataset, string folder, string name)
    {
        string path = Path.Combine(folder, name);
        var run = CliProcess.Run(Timeout, "predict", "--model", model, "--dataset", dataset, "--output", path);
        Assert.True(run.ExitCode == 0, run.ToString());
        return File.ReadAllLines(path);
    }

    /// <summary>samples/OnnxScoring's build output (the test project builds it without referencing it).</summary>
    private static string FindConsumer()
    {
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        string path = Path.Combine(TestData.RepositoryRoot, "samples", "OnnxScoring", "bin", configuration, "net10.0", "OnnxScoring.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} not found; build samples/OnnxScoring first.");
    }
}
