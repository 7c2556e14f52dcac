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
/// and <see cref="RestoreFloat32"/> once training ends, so the saved model holds the exact float32 master weights.
/// TorchSharp 0.107 has no CPU autocast, so the whole module (LayerNorm included; libtorch accumulates its
/// statistics in float32) is converted instead of individual operators.
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

    /// <summary>Whether bfloat16 matmuls have hardware support on <paramref name="device"/> (CUDA, or a CPU with AVX512-BF16 or AMX).</summary>
    public static bool IsSupported(Device device)
    {
        if (device.type == DeviceType.CUDA)
            return true;
        return CpuHasFlag("avx512_bf16") || CpuHasFlag("amx_bf16");
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
