namespace MLNetMixers;

/// <summary>Where a mixer model trains and scores.</summary>
public enum MixerDevice
{
    /// <summary>
    /// CUDA when a CUDA backend is present and a GPU is visible (the GPU named by
    /// <c>MLContext.GpuDeviceId</c>, else GPU 0); otherwise the CPU.
    /// </summary>
    Auto,

    /// <summary>Always the CPU.</summary>
    Cpu,

    /// <summary>
    /// A CUDA GPU (<c>MLContext.GpuDeviceId</c>, else GPU 0). When none is available this fails,
    /// unless <c>MLContext.FallbackToCpu</c> is set, in which case the CPU is used.
    /// </summary>
    Cuda,
}
