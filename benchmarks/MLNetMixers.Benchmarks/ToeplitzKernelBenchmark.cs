using MLNetMixers.Models;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Toeplitz token mixing: dense tril(toeplitz(v)) matmul, O(T²·d), against the FFT causal convolution,
/// O(T·log T·d), forward and forward + backward, to place <see cref="ToeplitzTokenMixing.FftThreshold"/>.
/// </summary>
internal sealed class ToeplitzKernelBenchmark : IBenchmark
{
    public string Name => "ToeplitzKernel";

    public void Run(BenchmarkContext context)
    {
        Training.TorchRuntime.EnsureAvailable();
        BenchmarkContext.OnOneTorchThread(() => RunSingleThreaded(context));
    }

    private void RunSingleThreaded(BenchmarkContext context)
    {
        int[] lengths = context.Smoke ? [8] : [64, 128, 256, 512, 1024, 2048];
        int batch = context.Smoke ? 2 : 8, width = context.Smoke ? 8 : 128;
        var rows = new List<IReadOnlyList<string>>();
        int? crossover = null;
        foreach (int t in lengths)
        {
            using var mixer = new ToeplitzTokenMixing(t, width, heads: 1);
            using var scope = NewDisposeScope();
            var x = randn(batch, t, width);
            double Forward(bool fft)
            {
                using var noGrad = no_grad();
                return MinimumSeconds(() => { using var s = NewDisposeScope(); mixer.forward(x, fft); }, context.Smoke ? 1 : 7);
            }
            double Backward(bool fft) => MinimumSeconds(() =>
            {
                using var s = NewDisposeScope();
                mixer.zero_grad();
                mixer.forward(x, fft).sum().backward();
            }, context.Smoke ? 1 : 7);
            double denseForward = Forward(false), fftForward = Forward(true), denseBackward = Backward(false), fftBackward = Backward(true);
            if (crossover is null && fftBackward < denseBackward)
                crossover = t;
            rows.Add([t.ToString(), Ms(denseForward), Ms(fftForward), Ms(denseBackward), Ms(fftBackward), $"{denseBackward / fftBackward:F2}"]);
            context.Log.WriteLine($"   T {t}: dense {Ms(denseBackward)} ms, fft {Ms(fftBackward)} ms (forward + backward)");
        }
        context.Report.Note($"Batch {batch}, width {width}, one head, {get_num_threads()} torch thread(s), CPU, fastest of 7 (the least disturbed by other processes). " +
                            $"FFT faster (forward + backward) from T = {crossover?.ToString() ?? "none measured"}; the library switches at T ≥ {ToeplitzTokenMixing.FftThreshold}.");
        context.Report.Table(["T", "dense fwd ms", "FFT fwd ms", "dense fwd+bwd ms", "FFT fwd+bwd ms", "dense/FFT (fwd+bwd)"], rows);
    }

    /// <summary>Fastest of <paramref name="repeats"/> runs after a warm-up: on a shared machine the minimum is the least noisy.</summary>
    internal static double MinimumSeconds(Action action, int repeats)
    {
        action();
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }

    private static string Ms(double seconds) => (seconds * 1000).ToString("F2");
}
