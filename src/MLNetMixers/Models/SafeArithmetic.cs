using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Models;

/// <summary>Tensor sums that are safe while other threads run the garbage collector.</summary>
/// <remarks>
/// TorchSharp 0.107's <c>a + b</c> passes libtorch a temporary <see cref="Scalar"/> (alpha = 1) that nothing keeps
/// alive during the native call, so a collection on another thread can finalize it while libtorch reads it
/// (dotnet/TorchSharp#1434; see <see cref="Training.AdamWOptimizer"/>). This one is static, so it is never finalized.
/// </remarks>
internal static class SafeArithmetic
{
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>a + b (broadcasting).</summary>
    public static Tensor Add(Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a += b, in place; returns a.</summary>
    public static Tensor AddInPlace(Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>a · factor.</summary>
    public static Tensor Scale(Tensor a, double factor)
    {
        using var scalar = factor.ToScalar();
        return a.mul(scalar);
    }

    /// <summary><paramref name="a"/> with <paramref name="value"/> where <paramref name="mask"/> is true.</summary>
    public static Tensor MaskedFill(Tensor a, Tensor mask, double value)
    {
        using var scalar = value.ToScalar();
        return a.masked_fill(mask, scalar);
    }
}
