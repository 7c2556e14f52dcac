using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Training;

/// <summary>
/// Opt-in bfloat16 training: the network computes in bfloat16 (forward and backward, so every matmul runs on the
/// CPU's AVX512-BF16 / AMX units), while the optimizer updates float32 master copies of the weights.
/// Small updates (lr · step ≈ 1e-4 of a weight) would vanish if added to bfloat16 weights directly (8 bits of
/// mantissa), which is why the master copies and the optimizer state stay in float32.
/// </summary>
/// <remarks>
/// A step:
/// <code>
/// model.zero_grad();
/// var loss = criterion(model.forward(tokens).to(float32), labels);
/// loss.backward();
/// bf16.CopyGradientsToMaster();
/// nn.utils.clip_grad_norm_(bf16.MasterParameters, clip);
/// optimizer.step();                 // an optimizer built over bf16.MasterParameters
/// bf16.CopyMasterToModel();
/// </code>
/// and <see cref="RestoreFloat32"/> once training ends, so the saved model holds the exact float32 master weights;
/// checkpoints hold them too (<see cref="CopyMastersTo"/>, <see cref="LoadMastersFrom"/>). Used by the tabular trainers
/// and the language-model estimator alike (<c>MixerPrecision.BFloat16</c>). TorchSharp 0.107 has no CPU autocast, so
/// the whole module (LayerNorm included; libtorch accumulates its statistics in float32) is converted instead of
/// individual operators.
/// </remarks>
internal sealed class BFloat16Training : IDisposable
{
    private readonly nn.Module model;
    private readonly Parameter[] modelParameters;
    private readonly Parameter[] master;

    /// <summary>Converts <paramref name="model"/> to bfloat16 in place and keeps float32 master copies of its weights.</summary>
    public BFloat16Training(nn.Module model)
    {
        this.model = model;
        var before = model.parameters().ToArray();
        if (before.Any(p => p.dtype != ScalarType.Float32))
            throw new ArgumentException("bfloat16 training starts from a float32 model.", nameof(model));
        master = before.Select(p => new Parameter(p.detach().clone(), requires_grad: p.requires_grad)).ToArray();
        model.to(ScalarType.BFloat16);
        modelParameters = model.parameters().ToArray();
    }

    /// <summary>
    /// Whether <paramref name="device"/> has bfloat16 matrix instructions: CUDA, or a CPU with AVX512-BF16 or AMX by the
    /// "flags" line of Linux's /proc/cpuinfo (false where there is none).
    /// </summary>
    /// <remarks>Having them does not make bfloat16 faster on a CPU: the trainers go by <see cref="CpuMatmulSpeeds"/>.</remarks>
    public static bool HasInstructions(Device device) =>
        device.type == DeviceType.CUDA || CpuHasFlag("avx512_bf16") || CpuHasFlag("amx_bf16");

    /// <summary>
    /// float32 and bfloat16 matrix-product speeds on this CPU, measured once per process (about 50 ms) on one torch
    /// thread, as each of the trainers' worker threads computes.
    /// </summary>
    /// <remarks>
    /// Measured, not inferred from the CPU's flags: AVX512-BF16's dot product does twice an FMA's multiply-adds per
    /// instruction, but where it issues at half the FMAs' rate bfloat16 gains nothing and its conversions cost: slower
    /// on an Intel Xeon without AMX, faster on an AMD EPYC (benchmarks/results/Defaults.md#bfloat16).
    /// </remarks>
    public static MatmulSpeeds CpuMatmulSpeeds => CpuSpeeds.Value;

    private static readonly Lazy<MatmulSpeeds> CpuSpeeds = new(() => MeasureCpuMatmulSpeeds(), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// The best of <paramref name="rounds"/> interleaved timings of a <paramref name="size"/>³ product in each format, after
    /// one untimed round, on one torch thread; torch's random generator and thread count are left as they were.
    /// </summary>
    internal static MatmulSpeeds MeasureCpuMatmulSpeeds(int size = 512, int rounds = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        using var threads = TorchRuntime.UseThreadCount(1);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator(1);
        var (a, b) = (randn(size, size, generator: generator), randn(size, size, generator: generator));
        var (a16, b16) = (a.to(ScalarType.BFloat16), b.to(ScalarType.BFloat16));
        double best32 = double.MaxValue, best16 = double.MaxValue;
        for (int round = 0; round <= rounds; round++)
        {
            double seconds32 = Seconds(a, b), seconds16 = Seconds(a16, b16);
            if (round == 0)
                continue; // oneDNN builds its kernel on the first bfloat16 product
            best32 = Math.Min(best32, seconds32);
            best16 = Math.Min(best16, seconds16);
        }
        double gigaflops = 2.0 * size * size * size / 1e9;
        return new MatmulSpeeds(gigaflops / best32, gigaflops / best16);

        static double Seconds(Tensor x, Tensor y)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            using var product = matmul(x, y);
            return System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
    }

    /// <summary>
    /// Warns through <paramref name="ch"/> where bfloat16 matrix products are slower than float32 ones on this CPU, with
    /// the figures; otherwise gives them as information. For trainers asked for <c>MixerPrecision.BFloat16</c> on the CPU.
    /// </summary>
    /// <remarks>
    /// Goes by the measured speed, not the CPU's flags: the flags do not tell (AVX512-BF16 without AMX is slower than
    /// float32 on Intel CPUs and faster on AMD's), and they are not readable the same way on every OS.
    /// </remarks>
    public static void ReportCpuSpeed(IChannel ch)
    {
        var speeds = CpuMatmulSpeeds;
        string measured = $"bfloat16 {speeds.BFloat16Gflops:F0} GFLOP/s against float32's {speeds.Float32Gflops:F0} on one thread ({speeds.BFloat16Speedup:F2}x)";
        if (speeds.BFloat16Speedup < 1)
            ch.Warning($"MixerPrecision.BFloat16 was requested but bfloat16 matrix products are slower than float32 ones on this CPU ({measured}, " +
                       "measured before training): training will be correct but slower than with Float32. bfloat16 pays on CPUs with AMX, " +
                       "or with AVX512-BF16 on AMD Zen 4 and later.");
        else
            ch.Info($"Matrix products on this CPU: {measured}.");
    }

    /// <summary>Copies the master weights into <paramref name="twin"/>, a float32 module of the same architecture (to save them).</summary>
    public void CopyMastersTo(nn.Module twin)
    {
        using var noGrad = no_grad();
        var targets = CheckTwin(twin);
        for (int i = 0; i < master.Length; i++)
            targets[i].copy_(master[i]);
    }

    /// <summary>Takes the master weights from <paramref name="twin"/> (loaded from a checkpoint) and rounds them into the model.</summary>
    public void LoadMastersFrom(nn.Module twin)
    {
        using var noGrad = no_grad();
        var sources = CheckTwin(twin);
        for (int i = 0; i < master.Length; i++)
            master[i].copy_(sources[i]);
        CopyMasterToModel();
    }

    private Parameter[] CheckTwin(nn.Module twin)
    {
        var parameters = twin.parameters().ToArray();
        if (parameters.Length != master.Length || parameters.Where((p, i) => p.dtype != ScalarType.Float32 || !p.shape.SequenceEqual(master[i].shape)).Any())
            throw new ArgumentException("The twin module must be a float32 module with the model's parameter shapes.", nameof(twin));
        return parameters;
    }

    /// <summary>The float32 weights the optimizer updates (and gradient clipping measures).</summary>
    public IReadOnlyList<Parameter> MasterParameters => master;

    /// <summary>Copies the bfloat16 gradients of the last backward pass into the master weights' float32 gradients.</summary>
    public void CopyGradientsToMaster()
    {
        using var noGrad = no_grad();
        for (int i = 0; i < master.Length; i++)
        {
            var gradient = modelParameters[i].grad;
            if (gradient is null)
            {
                master[i].grad = null;
                continue;
            }
            if (master[i].grad is { } existing)
                existing.copy_(gradient);
            else
                master[i].grad = gradient.to(ScalarType.Float32);
        }
    }

    /// <summary>Rounds the updated master weights into the bfloat16 model.</summary>
    public void CopyMasterToModel()
    {
        using var noGrad = no_grad();
        for (int i = 0; i < master.Length; i++)
            modelParameters[i].copy_(master[i]);
    }

    /// <summary>Converts the model back to float32 holding the master weights exactly (call when training ends).</summary>
    public void RestoreFloat32()
    {
        model.to(ScalarType.Float32);
        using var noGrad = no_grad();
        var restored = model.parameters().ToArray();
        for (int i = 0; i < master.Length; i++)
            restored[i].copy_(master[i]);
    }

    public void Dispose()
    {
        foreach (var p in master)
            p.Dispose();
    }

    private static bool CpuHasFlag(string flag)
    {
        try
        {
            string? flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return flags is not null && flags.Split(':', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(flag);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}

/// <summary>Matrix-product speeds in GFLOP/s, float32 against bfloat16.</summary>
internal readonly record struct MatmulSpeeds(double Float32Gflops, double BFloat16Gflops)
{
    /// <summary>How many times as fast bfloat16 products are (below 1: slower).</summary>
    public double BFloat16Speedup => BFloat16Gflops / Float32Gflops;
}
