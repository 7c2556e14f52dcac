using MLNetMixers.Models;

namespace MLNetMixers.Benchmarks;

/// <summary>Runs code with some of the library's CPU kernels off, for the with/without rows of the benchmarks.</summary>
internal static class KernelSwitches
{
    /// <summary>The channel MLP on MKL's GEMMs and the fused bias + GELU kernel instead of the panel GEMMs.</summary>
    public static T WithoutPanelGemms<T>(Func<T> run) => Off(on => FusedChannelMlp.Enabled = on, run);

    /// <summary>Every fused kernel off (<see cref="CpuKernels.Enabled"/>): libtorch's operators throughout.</summary>
    public static T WithoutFusedKernels<T>(Func<T> run) => Off(on => CpuKernels.Enabled = on, run);

    private static T Off<T>(Action<bool> setEnabled, Func<T> run)
    {
        setEnabled(false);
        try
        {
            return run();
        }
        finally
        {
            setEnabled(true);
        }
    }
}
