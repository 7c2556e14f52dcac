using System.Collections.Concurrent;
using MLNetMixers.Models;
using MLNetMixers.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>
/// The kernel and FFT choices that benchmarks and tests make are scoped to the thread that makes them (and the gradient
/// workers computing its step), and end with their scope: no process-wide switch.
/// </summary>
public class KernelChoiceTests
{
    [Fact]
    public void AChoiceHoldsOnItsThreadAndItsGradientWorkersUntilDisposed()
    {
        var seen = new ConcurrentBag<(CpuKernelChoice Kernels, int Fft)>();
        using var weight = new Parameter(ones(4, 1));
        using var gradients = new DataParallelGradients(threads: 2, minimumRowsPerShard: 1, shardsPerThread: 1);
        float Step() => gradients.Compute((x, _) =>
        {
            seen.Add((CpuKernels.Choice, ToeplitzTokenMixing.FftThreshold));
            return x.matmul(weight).sum();
        }, ones(8, 4), zeros(8), 8, noiseSeed: 1, [weight], [weight]);

        using (CpuKernels.Use(CpuKernelChoice.None))
        using (ToeplitzTokenMixing.UseFftThreshold(2))
        {
            (CpuKernelChoice, int) elsewhere = default;
            var other = new Thread(() => elsewhere = (CpuKernels.Choice, ToeplitzTokenMixing.FftThreshold));
            other.Start();
            other.Join();
            Assert.Equal((CpuKernelChoice.All, ToeplitzTokenMixing.DefaultFftThreshold), elsewhere);
            Step();
            Assert.Equal(2, seen.Count);
            Assert.All(seen, s => Assert.Equal((CpuKernelChoice.None, 2), s));
        }
        Assert.Equal((CpuKernelChoice.All, ToeplitzTokenMixing.DefaultFftThreshold), (CpuKernels.Choice, ToeplitzTokenMixing.FftThreshold));
        seen.Clear();
        Step();
        Assert.All(seen, s => Assert.Equal((CpuKernelChoice.All, ToeplitzTokenMixing.DefaultFftThreshold), s));
    }
}
