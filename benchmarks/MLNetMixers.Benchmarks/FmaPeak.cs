using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// The physical fp32 limit of the cores: a C# loop of fused multiply-adds on registers only, 12 independent
/// accumulators (enough to cover the FMA latency on two FMA pipes), 512-bit vectors where the JIT accelerates them,
/// else 256-bit, one loop per thread on every thread at once. No memory traffic, so no model can beat it.
/// </summary>
internal sealed class FmaPeak(int threads, long iterations)
{
    private const int Accumulators = 12;

    /// <summary>Lanes per vector of the loop this machine runs.</summary>
    public static int Lanes => Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;

    /// <summary>Floating-point operations one <see cref="Run"/> performs (an FMA counts 2).</summary>
    public double Flops => 2.0 * Accumulators * Lanes * iterations * threads;

    public string Describe() => $"{threads} thread(s) × {Accumulators} accumulators × {Lanes}-lane {(Lanes == 16 ? "Vector512" : "Vector256")} FMAs";

    /// <summary>Runs the loop on every thread at once and waits for all of them.</summary>
    public void Run()
    {
        var workers = new Thread[threads];
        for (int i = 0; i < threads; i++)
            (workers[i] = new Thread(() => Sink = Vector512.IsHardwareAccelerated ? Loop512(iterations) : Loop256(iterations))).Start();
        foreach (var worker in workers)
            worker.Join();
    }

    /// <summary>Keeps the loops' results alive so the JIT cannot drop them.</summary>
    public static float Sink;

    // c = c·a + b converges to b / (1 − a) = 1: no overflow, no denormals, however many iterations.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Loop512(long iterations)
    {
        var a = Vector512.Create(0.999f);
        var b = Vector512.Create(0.001f);
        Vector512<float> c0 = Vector512.Create(0.1f), c1 = Vector512.Create(0.2f), c2 = Vector512.Create(0.3f), c3 = Vector512.Create(0.4f),
            c4 = Vector512.Create(0.5f), c5 = Vector512.Create(0.6f), c6 = Vector512.Create(0.7f), c7 = Vector512.Create(0.8f),
            c8 = Vector512.Create(0.9f), c9 = Vector512.Create(1.1f), c10 = Vector512.Create(1.2f), c11 = Vector512.Create(1.3f);
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b);
            c2 = Vector512.FusedMultiplyAdd(c2, a, b); c3 = Vector512.FusedMultiplyAdd(c3, a, b);
            c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
            c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
            c8 = Vector512.FusedMultiplyAdd(c8, a, b); c9 = Vector512.FusedMultiplyAdd(c9, a, b);
            c10 = Vector512.FusedMultiplyAdd(c10, a, b); c11 = Vector512.FusedMultiplyAdd(c11, a, b);
        }
        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Loop256(long iterations)
    {
        var a = Vector256.Create(0.999f);
        var b = Vector256.Create(0.001f);
        Vector256<float> c0 = Vector256.Create(0.1f), c1 = Vector256.Create(0.2f), c2 = Vector256.Create(0.3f), c3 = Vector256.Create(0.4f),
            c4 = Vector256.Create(0.5f), c5 = Vector256.Create(0.6f), c6 = Vector256.Create(0.7f), c7 = Vector256.Create(0.8f),
            c8 = Vector256.Create(0.9f), c9 = Vector256.Create(1.1f), c10 = Vector256.Create(1.2f), c11 = Vector256.Create(1.3f);
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, a, b); c1 = Vector256.FusedMultiplyAdd(c1, a, b);
            c2 = Vector256.FusedMultiplyAdd(c2, a, b); c3 = Vector256.FusedMultiplyAdd(c3, a, b);
            c4 = Vector256.FusedMultiplyAdd(c4, a, b); c5 = Vector256.FusedMultiplyAdd(c5, a, b);
            c6 = Vector256.FusedMultiplyAdd(c6, a, b); c7 = Vector256.FusedMultiplyAdd(c7, a, b);
            c8 = Vector256.FusedMultiplyAdd(c8, a, b); c9 = Vector256.FusedMultiplyAdd(c9, a, b);
            c10 = Vector256.FusedMultiplyAdd(c10, a, b); c11 = Vector256.FusedMultiplyAdd(c11, a, b);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}
