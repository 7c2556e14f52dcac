using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>The machine's fp32 matrix-multiply peak through TorchSharp: the yardstick for model FLOP utilisation.</summary>
internal sealed class SgemmBenchmark : IBenchmark
{
    public string Name => "Sgemm";

    /// <summary>Measured fp32 GFLOP/s of an n x n x n matmul.</summary>
    public static double MeasureGflops(int n, int repeats)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n);
        var b = randn(n, n);
        double seconds = BenchmarkContext.MedianSeconds(() => { using var c = matmul(a, b); }, repeats);
        return 2.0 * n * n * n / seconds / 1e9;
    }

    public void Run(BenchmarkContext context)
    {
        MLNetMixers.Training.TorchRuntime.EnsureAvailable();
        int n = context.Smoke ? 64 : 2048;
        double gflops = MeasureGflops(n, context.Smoke ? 1 : 5);
        context.Report.Table(["shape", "threads", "GFLOP/s"], [[$"{n}^3 fp32", get_num_threads().ToString(), $"{gflops:F1}"]]);
    }
}
