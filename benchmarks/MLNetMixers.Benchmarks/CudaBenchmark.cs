using MLNetMixers.Training;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// The training shapes on a CUDA GPU, bf16 (fp32 master weights), with model FLOP utilisation against the card's
/// bf16 matmul peak measured in the same run. Reports plainly when no CUDA device is present (this project's
/// benchmarks reference TorchSharp-cpu; run with the CUDA backend package on a GPU machine to measure).
/// </summary>
internal sealed class CudaBenchmark : IBenchmark
{
    public string Name => "Cuda";

    public void Run(BenchmarkContext context)
    {
        TorchRuntime.EnsureAvailable();
        if (!cuda.is_available())
        {
            context.Report.Note("No CUDA device is available to this process (TorchSharp-cpu backend, or no GPU visible): nothing measured. "
                + "On a GPU machine, reference the TorchSharp CUDA backend instead of TorchSharp-cpu and run `-- --only Cuda`.");
            context.Report.Table(["device", "result"], [["CUDA", "not available on this machine"]]);
            return;
        }

        var device = CUDA;
        int n = context.Smoke ? 256 : 8192;
        double peak;
        using (NewDisposeScope())
        {
            var a = randn([n, n], ScalarType.BFloat16, device);
            var b = randn([n, n], ScalarType.BFloat16, device);
            double seconds = BenchmarkContext.MedianSeconds(() => { using var c = matmul(a, b); cuda.synchronize(); }, context.Smoke ? 1 : 10);
            peak = 2.0 * n * n * n / seconds / 1e9;
        }
        var rows = new List<IReadOnlyList<string>>();
        var shapes = context.Smoke ? [ModelShape.Tabular.Tiny()] : new[] { ModelShape.Tabular, ModelShape.LanguageModel, ModelShape.Tabular with { Batch = 4096 }, ModelShape.LanguageModel with { Batch = 256 } };
        foreach (var shape in shapes)
        {
            using var scope = NewDisposeScope();
            using var trainer = new BareTrainer(shape, bfloat16: true, seed: 1, device: device);
            var (tokens, targets) = BareTrainer.RandomBatch(shape, seed: 1);
            tokens = tokens.to(device);
            targets = targets.to(device);
            // Step() reads the loss back (item), which synchronises the device each step.
            double seconds = BenchmarkContext.MedianSeconds(() => trainer.Step(tokens, targets), context.Smoke ? 1 : 20);
            double gflops = shape.StepFlops / seconds / 1e9;
            rows.Add([shape.Name, shape.Describe(), $"{seconds * 1e3:F2}", $"{gflops:F0}", $"{100 * gflops / peak:F1}%"]);
        }
        context.Report.Note($"{cuda.device_count()} CUDA device(s); bf16 {n}^3 matmul peak measured now: **{peak:F0} GFLOP/s**. bf16 model, fp32 master weights and AdamW; "
            + "same FLOP formula as ModelStep. The benchmark shapes are CPU-sized; larger batches show what the card can do.");
        context.Report.Table(["shape", "dims", "ms/step", "model GFLOP/s", "% of bf16 peak"], rows);
    }
}
