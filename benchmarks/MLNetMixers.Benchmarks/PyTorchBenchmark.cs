using System.Diagnostics;
using System.Text.Json;
using MLNetMixers.Training;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// The same bare training step in PyTorch (Debian's python3-torch, installed by benchmarks/pytorch/install.sh) as the
/// Python user's reference: ms/step and the ratio to TorchSharp measured in the same run.
/// </summary>
internal sealed class PyTorchBenchmark : IBenchmark
{
    public string Name => "PyTorch";

    private const string Python = "/usr/bin/python3";

    public void Run(BenchmarkContext context)
    {
        TorchRuntime.EnsureAvailable();
        string script = Path.Combine(BenchmarkRunner.FindRepository(), "benchmarks", "pytorch", "bench_step.py");
        string? version = PyTorchVersion();
        if (version is null)
        {
            context.Report.Note($"{Python} has no torch module: run `sudo benchmarks/pytorch/install.sh` (Debian's python3-torch and libopenblas0-pthread), then `{BenchmarkRunner.BaseCommand} -- --only PyTorch`.");
            context.Report.Table(["shape", "PyTorch"], [["all", "not installed"]]);
            return;
        }

        int steps = context.Smoke ? 1 : 10;
        var shapes = context.Smoke ? new[] { (ModelShape.Tabular.Tiny(), "tiny") } : [(ModelShape.Tabular, "tabular"), (ModelShape.LanguageModel, "LM")];
        context.Log.WriteLine($"   expected ~2-3 min: TorchSharp and PyTorch ({version}) steps, {steps} each, twice per shape");
        var rows = new List<IReadOnlyList<string>>();

        int n = context.Smoke ? 64 : 2048;
        double torchSharpSgemm = SgemmBenchmark.MeasureGflops(n, context.Smoke ? 1 : 5);
        double? pySgemm = null;
        foreach (var (shape, pythonName) in shapes)
        {
            // TorchSharp before and after the Python runs, so that a change of load in between shows up as spread.
            double before = TorchSharpStep(shape, steps);
            var results = RunPython(script, $"{(pySgemm is null ? $"--sgemm {n} " : "")}--shape {pythonName} --steps {steps} --mixing bmm", context.Smoke);
            if (pySgemm is null)
            {
                pySgemm = results[0].GetProperty("gflops").GetDouble();
                rows.Add([$"sgemm {n}^3", "", $"{torchSharpSgemm:F1} GFLOP/s", $"{pySgemm:F1} GFLOP/s", "", $"{torchSharpSgemm / pySgemm:F2}x (TorchSharp / PyTorch GFLOP/s)"]);
            }
            var variants = new List<(JsonElement Result, string Label)> { (results[^1], "same stride-0 bmm token mixing as MLNetMixers") };
            if (!context.Smoke)
                variants.Add((RunPython(script, $"--shape {pythonName} --steps {steps} --mixing matmul", false)[^1], "matmul(W, x) token mixing, as first written in Python"));
            double after = TorchSharpStep(shape, steps);
            double torchSharp = (before + after) / 2;
            foreach (var (result, label) in variants)
            {
                double pyMs = result.GetProperty("ms_per_step").GetDouble();
                rows.Add([shape.Name, label, $"{torchSharp:F1} ms ({before:F1} / {after:F1})", $"{pyMs:F1} ms", $"{shape.StepFlops / (pyMs / 1e3) / 1e9:F1}", $"{pyMs / torchSharp:F2}x"]);
                context.Log.WriteLine($"   {shape.Name} {label}: TorchSharp {torchSharp:F1} ms, PyTorch {pyMs:F1} ms");
            }
        }
        context.Report.Note($"PyTorch {version} ({Python}, Debian python3-torch + libopenblas0-pthread) running benchmarks/pytorch/bench_step.py: the same model, "
            + $"shapes, AdamW, clipping and FLOP formula as ModelStep, fp32, {get_num_threads()} thread(s) on both sides (OMP_NUM_THREADS for Python). Median of {steps} steps after one warm-up ({steps} more on the TorchSharp side, whose fresh worker threads grow their heaps first); TorchSharp measured "
            + "before and after the Python runs (both shown; the mean is used). Ratio > 1: TorchSharp is faster.");
        context.Report.Table(["shape", "PyTorch variant", "TorchSharp ms/step (before / after)", "PyTorch ms/step", "PyTorch model GFLOP/s", "PyTorch / TorchSharp time"], rows);
    }

    private static double TorchSharpStep(ModelShape shape, int steps)
    {
        using var scope = NewDisposeScope();
        using var trainer = new BareTrainer(shape, bfloat16: false, seed: 1);
        var (tokens, targets) = BareTrainer.RandomBatch(shape, seed: 1);
        return trainer.SteadyStepSeconds(tokens, targets, steps) * 1e3;
    }

    /// <summary>torch.__version__ of /usr/bin/python3, or null when torch is not installed there.</summary>
    internal static string? PyTorchVersion()
    {
        if (!File.Exists(Python))
            return null;
        try
        {
            var (code, output) = Execute("-c \"import torch; print(torch.__version__)\"");
            return code == 0 ? output.Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>The JSON objects bench_step.py printed, in order.</summary>
    private static IReadOnlyList<JsonElement> RunPython(string script, string arguments, bool oneThread)
    {
        var (code, output) = Execute($"\"{script}\" {arguments}", oneThread);
        if (code != 0)
            throw new InvalidOperationException($"{Python} {script} {arguments} failed with exit code {code}: {output}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.TrimStart().StartsWith('{'))
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    private static (int ExitCode, string Output) Execute(string arguments, bool oneThread = false)
    {
        var start = new ProcessStartInfo(Python, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Python gets as many threads as TorchSharp has, so the two are compared like for like.
        start.Environment["OMP_NUM_THREADS"] = oneThread ? "1" : get_num_threads().ToString();
        // The private runtime's library path (set by ./dotnet for TorchSharp) must not leak into Debian's Python.
        start.Environment.Remove("LD_LIBRARY_PATH");
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}
