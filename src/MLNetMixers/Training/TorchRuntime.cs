using System.Runtime.InteropServices;
using Microsoft.ML;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Training;

/// <summary>
/// The single gate to TorchSharp's native library: checks it loads (turning TorchSharp's loader
/// trace into one actionable message) and picks the device following ML.NET's conventions.
/// </summary>
internal static class TorchRuntime
{
    private static readonly Lazy<Exception?> LoadFailure = new(TryLoad, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the cause and the fix when torch cannot load.</summary>
    public static void EnsureAvailable()
    {
        if (LoadFailure.Value is { } failure)
            throw new InvalidOperationException(Explain(failure), failure);
    }

    /// <summary>
    /// Resolves <paramref name="requested"/> against <c>MLContext.GpuDeviceId</c> and <c>FallbackToCpu</c>
    /// the way ML.NET's own TorchSharp trainers do, and whether CUDA is actually present.
    /// </summary>
    public static Device ResolveDevice(IHostEnvironment env, MixerDevice requested)
    {
        EnsureAvailable();
        var settings = env as IHostEnvironmentInternal;
        int? gpuId = settings?.GpuDeviceId;
        bool fallbackToCpu = settings?.FallbackToCpu ?? true;

        switch (requested)
        {
            case MixerDevice.Cpu:
                return CPU;
            case MixerDevice.Auto:
                return cuda.is_available() ? new Device(DeviceType.CUDA, gpuId ?? 0) : CPU;
            case MixerDevice.Cuda:
                if (cuda.is_available())
                    return new Device(DeviceType.CUDA, gpuId ?? 0);
                if (fallbackToCpu)
                    return CPU;
                throw new InvalidOperationException(
                    "MixerDevice.Cuda was requested but no CUDA device is available and MLContext.FallbackToCpu is false. " +
                    "Reference the TorchSharp CUDA backend package (instead of TorchSharp-cpu) and check that a GPU is visible, " +
                    "or use MixerDevice.Auto/Cpu.");
            default:
                throw new ArgumentOutOfRangeException(nameof(requested), requested, "Unknown device.");
        }
    }

    /// <summary>
    /// Sets torch's CPU thread count for one training run when a count is given, and returns the scope that puts back
    /// the count it found: torch's count is process-wide, and a trainer's option should not change what the rest of the
    /// process (scoring, the next trainer) runs on, as ML.NET's own trainers' NumberOfThreads does not.
    /// </summary>
    public static ThreadCountScope UseThreadCount(int? numberOfThreads)
    {
        if (numberOfThreads is null)
            return default;
        if (numberOfThreads < 1)
            throw new ArgumentOutOfRangeException(nameof(numberOfThreads), numberOfThreads, "The number of threads must be at least 1.");
        int previous = torch.get_num_threads();
        torch.set_num_threads(numberOfThreads.Value);
        return new ThreadCountScope(previous);
    }

    /// <summary>Restores torch's thread count on dispose (nothing when no count was set).</summary>
    internal readonly struct ThreadCountScope(int previous) : IDisposable
    {
        public void Dispose()
        {
            if (previous > 0 && torch.get_num_threads() != previous)
                torch.set_num_threads(previous);
        }
    }

    /// <summary>
    /// Lets CUDA run float32 matrix products in TF32 (10-bit mantissa inputs, float32 accumulation: torch's own
    /// mixed-precision default for matmuls; TorchSharp 0.107 has no autocast) for one training run, and returns the
    /// scope that puts back the process's setting. Does nothing off CUDA.
    /// </summary>
    public static Tf32Scope UseTf32MatrixProducts(torch.Device device)
    {
        if (device.type != DeviceType.CUDA)
            return default;
        bool previous = torch.backends.cuda.matmul.allow_tf32;
        torch.backends.cuda.matmul.allow_tf32 = true;
        return new Tf32Scope(previous);
    }

    /// <summary>Restores CUDA's TF32 setting on dispose (nothing when it was not changed).</summary>
    internal readonly struct Tf32Scope(bool previous) : IDisposable
    {
        private readonly bool changed = true;

        public void Dispose()
        {
            if (changed)
                torch.backends.cuda.matmul.allow_tf32 = previous;
        }
    }

    private static Exception? TryLoad()
    {
        NativeAllocatorTuning.Apply();
        try
        {
            using var probe = torch.ones(2).sum();
            return probe.item<float>() == 2f ? null : new InvalidOperationException("torch returned a wrong result for 1 + 1.");
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException
                                      or InvalidOperationException or EntryPointNotFoundException or BadImageFormatException)
        {
            return e;
        }
    }

    private static string Explain(Exception failure)
    {
        string details = string.Join(" | ", Flatten(failure).Select(e => e.Message).Distinct());
        if (details.Contains("GLIBCXX", StringComparison.Ordinal) || LoadedLibStdCxxLacks("GLIBCXX_3.4.32"))
        {
            return "TorchSharp's native library needs libstdc++ from GCC 13 or newer (symbol version GLIBCXX_3.4.32), " +
                   "which this system lacks (e.g. Debian 12 ships GCC 12). Run through the repository's ./dotnet script, which prepares " +
                   "a private runtime once (eng/debian-runtime.sh) without touching system packages, or use a system with " +
                   "GCC 13+ libstdc++ (Ubuntu 24.04+, Debian 13+). Loader said: " + details;
        }
        if (details.Contains("LibTorchSharp", StringComparison.OrdinalIgnoreCase) || details.Contains("libtorch", StringComparison.OrdinalIgnoreCase))
        {
            return "TorchSharp's native backend could not be loaded. The application must reference a backend package: " +
                   "TorchSharp-cpu, or the TorchSharp CUDA backend for GPUs (the MLNetMixers library references only the managed " +
                   $"TorchSharp package). Platform: {RuntimeInformation.RuntimeIdentifier}. Loader said: " + details;
        }
        return "TorchSharp could not be initialised: " + details;
    }

    /// <summary>
    /// TorchSharp reports a missing libstdc++ symbol version as a missing backend package, so look at
    /// the libstdc++ this process actually loaded.
    /// </summary>
    private static bool LoadedLibStdCxxLacks(string symbolVersion)
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            string? library = File.ReadLines("/proc/self/maps")
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault())
                .FirstOrDefault(path => path is not null && path.Contains("libstdc++.so", StringComparison.Ordinal));
            if (library is null || !File.Exists(library))
                return false;
            byte[] needle = System.Text.Encoding.ASCII.GetBytes(symbolVersion);
            return File.ReadAllBytes(library).AsSpan().IndexOf(needle) < 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static IEnumerable<Exception> Flatten(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
            yield return current;
    }
}
