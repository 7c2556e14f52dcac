using MLNetMixers.Models;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Forward + backward of token mixing y = W·x over [B, T, D] for the ways libtorch can compute it, at the
/// benchmark shapes. Explains the choice made in <see cref="TokenMixing.Mix"/>.
/// </summary>
internal sealed class TokenMixingBenchmark : IBenchmark
{
    public string Name => "TokenMixing";

    internal static readonly (string Name, Func<Tensor, Tensor, Tensor> Mix)[] Variants =
    [
        ("matmul(W, x) (broadcast)", (w, x) => matmul(w, x)),
        ("bmm(W.expand(B), x) (stride-0 batch)", (w, x) => bmm(w.expand(x.shape[0], w.shape[0], w.shape[1]), x)),
        ("TokenMixing.Mix (chosen: bmm + bias)", (w, x) => TokenMixing.Mix(w, x, zeros(w.shape[0], 1))),
        ("W @ x as [T, B*D] (one GEMM)", TokenMixingVariants.MixAsOneGemm),
        ("x^T @ W^T as [B*D, T] (one GEMM)", (w, x) => matmul(x.transpose(1, 2), w.t()).transpose(1, 2)),
    ];

    public void Run(BenchmarkContext context)
    {
        MLNetMixers.Training.TorchRuntime.EnsureAvailable();
        if (Environment.GetEnvironmentVariable("BENCH_THREADS") is { } t) set_num_threads(int.Parse(t));
        var shapes = context.Smoke
            ? new[] { ("tiny", 4, 8, 8) }
            : new[] { ("tabular", 256, 64, 64), ("LM", 16, 256, 256) };
        var rows = new List<IReadOnlyList<string>>();
        foreach (var (label, batch, length, width) in shapes)
        {
            using var scope = NewDisposeScope();
            var w = randn(length, length).requires_grad_();
            var x = randn(batch, length, width).requires_grad_();
            var upstream = randn(batch, length, width);
            double flops = 3 * 2.0 * batch * length * length * width;
            // Interleaved rounds, so that a change in the machine's load hits every variant alike.
            var steps = Variants.Select(v => (Action)(() =>
            {
                using var step = NewDisposeScope();
                var y = v.Mix(w, x);
                y.backward([upstream]);
                w.grad!.zero_();
                x.grad!.zero_();
            })).ToArray();
            double[] seconds = BenchmarkContext.InterleavedMedianSeconds(steps, context.Smoke ? 1 : 21);
            for (int i = 0; i < Variants.Length; i++)
            {
                rows.Add([label, $"B={batch} T={length} D={width}", Variants[i].Name, $"{seconds[i] * 1e3:F2}", $"{flops / seconds[i] / 1e9:F1}"]);
                context.Log.WriteLine($"   {label} {Variants[i].Name}: {seconds[i] * 1e3:F2} ms");
            }
        }
        context.Report.Note("Forward + backward (dW and dx) of y = W·x, median of 21 interleaved rounds. FLOPs = 3 · 2·B·T²·D.");
        context.Report.Table(["shape", "dims", "variant", "ms", "GFLOP/s"], rows);
    }
}
