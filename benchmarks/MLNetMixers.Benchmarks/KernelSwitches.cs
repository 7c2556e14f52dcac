using MLNetMixers.Models;

namespace MLNetMixers.Benchmarks;

/// <summary>Runs code with some of the library's CPU kernels off, for the with/without rows of the benchmarks.</summary>
internal static class KernelSwitches
{
    /// <summary>The channel MLP on MKL's GEMMs and the fused bias + GELU kernel instead of the panel GEMMs.</summary>
    public static T WithoutPanelGemms<T>(Func<T> run) => With(CpuKernelChoice.NoPanelGemms, run);

    /// <summary>libtorch's GELU and LayerNorm instead of the fused kernels; the channel MLP stays on the panel GEMMs.</summary>
    public static T WithoutFusedGeluAndLayerNorm<T>(Func<T> run) => With(CpuKernelChoice.PanelGemmsOnly, run);

    /// <summary>Every fused kernel off: libtorch's operators throughout.</summary>
    public static T WithoutFusedKernels<T>(Func<T> run) => With(CpuKernelChoice.None, run);

    private static T With<T>(CpuKernelChoice choice, Func<T> run)
    {
        using var scope = CpuKernels.Use(choice);
        return run();
    }
}
