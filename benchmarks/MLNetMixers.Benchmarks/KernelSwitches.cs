using MLNetMixers.Models;

namespace MLNetMixers.Benchmarks;

/// <summary>Runs code with some of the library's CPU kernels off, for the with/without rows of the benchmarks.</summary>
internal static class KernelSwitches
{
    /// <summary>The channel MLP on MKL's GEMMs and the fused bias + GELU kernel instead of the panel GEMMs.</summary>
    public static T WithoutPanelGemms<T>(Func<T> run)
    {
        FusedChannelMlp.Enabled = false;
        try
        {
            return run();
        }
        finally
        {
            FusedChannelMlp.Enabled = true;
        }
    }

    /// <summary>Every fused kernel off (<see cref="CpuKernels.Enabled"/>): libtorch's operators throughout.</summary>
    public static T WithoutFusedKernels<T>(Func<T> run)
    {
        CpuKernels.Enabled = false;
        try
        {
            return run();
        }
        finally
        {
            CpuKernels.Enabled = true;
        }
    }
}
