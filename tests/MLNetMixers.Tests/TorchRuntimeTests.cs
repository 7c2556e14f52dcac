using Microsoft.ML;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void TorchDoesRealMathOnThisMachine()
    {
        TorchRuntime.EnsureAvailable();
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }, 2, 2);
        var b = tensor(new float[] { 5, 6, 7, 8 }, 2, 2);
        float[] product = matmul(a, b).data<float>().ToArray();
        Assert.Equal(new float[] { 19, 22, 43, 50 }, product);

        var x = tensor(3.0f, requires_grad: true);
        var y = x * x * x;
        y.backward();
        Assert.Equal(27f, x.grad!.item<float>());
    }

    [Fact]
    public void FreedActivationBuffersAreReusedWithoutPageFaults()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "glibc's malloc tuning and /proc/self/stat are Linux-only");
        TorchRuntime.EnsureAvailable();
        Assert.True(NativeAllocatorTuning.Applied, "glibc's malloc settings were not applied when torch loaded");
        const int buffers = 20;
        const long floats = 4 * 1024 * 1024; // 16 MB, an activation tensor of the tabular benchmark shape
        void AllocateTouchAndFree()
        {
            using var buffer = empty(floats);
            buffer.fill_(1);
        }
        AllocateTouchAndFree();
        long before = MinorPageFaults();
        for (int i = 0; i < buffers; i++)
            AllocateTouchAndFree();
        long faults = MinorPageFaults() - before;
        // Returned to the kernel on every free, each buffer would fault in all of its 4096 pages again.
        Assert.True(faults < buffers * 4096 / 10, $"{faults} minor page faults for {buffers} reused 16 MB buffers");
    }

    /// <summary>minflt, the 10th field of /proc/self/stat (after the parenthesised command name).</summary>
    private static long MinorPageFaults()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[7]);
    }

    [Fact]
    public void CpuIsChosenWhenAskedAndAutoFallsBackWithoutCuda()
    {
        var ml = new MLContext(seed: 1);
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice(ml, MixerDevice.Cpu).type);
        var expectedAuto = cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU;
        Assert.Equal(expectedAuto, TorchRuntime.ResolveDevice(ml, MixerDevice.Auto).type);
    }

    [Fact]
    public void Tf32IsOnForATrainingRunOnlyAndOnlyOnCuda()
    {
        bool before = backends.cuda.matmul.allow_tf32;
        try
        {
            backends.cuda.matmul.allow_tf32 = false;
            using (TorchRuntime.UseTf32MatrixProducts(CPU))
                Assert.False(backends.cuda.matmul.allow_tf32);
            using (TorchRuntime.UseTf32MatrixProducts(new Device(DeviceType.CUDA)))
                Assert.True(backends.cuda.matmul.allow_tf32);
            Assert.False(backends.cuda.matmul.allow_tf32);
        }
        finally
        {
            backends.cuda.matmul.allow_tf32 = before;
        }
    }

    [Fact]
    public void CudaIsChosenWhenAGpuIsPresent()
    {
        Assert.SkipUnless(cuda.is_available(), "no CUDA device here");
        Assert.Equal(DeviceType.CUDA, TorchRuntime.ResolveDevice(new MLContext(), MixerDevice.Cuda).type);
    }

    [Fact]
    public void CudaWithoutGpuFailsUnlessFallbackIsAllowed()
    {
        Assert.SkipWhen(cuda.is_available(), "a CUDA device is present, so asking for CUDA cannot fail");
        var strict = new MLContext { FallbackToCpu = false, GpuDeviceId = 0 };
        var error = Assert.Throws<InvalidOperationException>(() => TorchRuntime.ResolveDevice(strict, MixerDevice.Cuda));
        Assert.Contains("FallbackToCpu", error.Message);

        var lenient = new MLContext { FallbackToCpu = true, GpuDeviceId = 0 };
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice(lenient, MixerDevice.Cuda).type);
    }
}
