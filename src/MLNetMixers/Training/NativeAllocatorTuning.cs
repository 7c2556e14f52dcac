using System.Runtime.InteropServices;

namespace MLNetMixers.Training;

/// <summary>
/// Keeps glibc's malloc from returning libtorch's activation buffers to the kernel after every operator.
/// </summary>
/// <remarks>
/// A training step allocates and frees hundreds of megabytes of activations and gradients in buffers of 1-32 MB. With
/// glibc's defaults, buffers that size are mapped with <c>mmap</c> and unmapped on free (or trimmed from the heap top),
/// so every step page-faults its memory in again and the kernel zeroes it: at the tabular benchmark shape that is more
/// than half the step (benchmarks/results/StepProfile.md: 674 ms against 274 ms, one thread). Fixing the mmap threshold
/// at its maximum (32 MB, which also stops glibc from moving it) and raising the trim threshold makes freed buffers
/// stay in the heap for the next step, as jemalloc or tcmalloc (which PyTorch's CPU tuning guides preload) would.
/// The cost is that the process keeps its peak native heap instead of shrinking between steps.
/// Applied once, when torch is first used, on Linux with glibc only. Opt out with the environment variable
/// <c>MLNETMIXERS_NATIVE_ALLOCATOR=default</c>; it is also skipped when the process was started with its own malloc
/// settings (<c>GLIBC_TUNABLES</c> or <c>MALLOC_*_</c> variables).
/// </remarks>
internal static partial class NativeAllocatorTuning
{
    private const int TrimThresholdOption = -1;   // M_TRIM_THRESHOLD
    private const int TopPadOption = -2;          // M_TOP_PAD
    private const int MmapThresholdOption = -3;   // M_MMAP_THRESHOLD

    /// <summary>glibc's largest mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).</summary>
    internal const int MmapThreshold = 32 * 1024 * 1024;

    /// <summary>Free memory at the heap top kept for reuse rather than returned to the kernel.</summary>
    internal const int TrimThreshold = 1024 * 1024 * 1024;

    /// <summary>
    /// Extra memory a heap grows by and keeps. It must reach a thread arena's heap size (64 MB) for glibc to keep a
    /// thread's emptied secondary heap instead of unmapping it: ML.NET trains on whichever thread calls Fit.
    /// </summary>
    internal const int TopPad = 64 * 1024 * 1024;

    /// <summary>Whether the tuning was applied in this process.</summary>
    public static bool Applied { get; private set; }

    public static void Apply()
    {
        if (!OperatingSystem.IsLinux() || UserChoseAllocatorSettings())
            return;
        try
        {
            Applied = mallopt(MmapThresholdOption, MmapThreshold) == 1 & mallopt(TrimThresholdOption, TrimThreshold) == 1
                      & mallopt(TopPadOption, TopPad) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (e.g. musl): nothing to tune.
        }
    }

    private static bool UserChoseAllocatorSettings()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("MLNETMIXERS_NATIVE_ALLOCATOR"), "default", StringComparison.OrdinalIgnoreCase))
            return true;
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { } tunables && tunables.Contains("malloc", StringComparison.Ordinal))
            return true;
        return Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Any(name => name.StartsWith("MALLOC_", StringComparison.Ordinal) && name.EndsWith('_'));
    }

    [LibraryImport("libc.so.6")]
    private static partial int mallopt(int option, int value);
}
