using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using TorchSharp.Modules;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;

namespace MLNetMixers.Models;

/// <summary>
/// GELU(x·Wᵀ + b) of a Linear layer for training on the CPU: the bias is added, GELU = x·Φ(x) evaluated and its
/// derivative Φ(x) + x·φ(x) saved in one pass; the backward pass is one more, giving the pre-activation's gradient and
/// the bias gradient together.
/// </summary>
/// <remarks>
/// libtorch's GELU backward recomputes erf and exp from the saved input, several times the cost of a pass over the
/// tensor (benchmarks/results/Defaults.md#fused-kernels). erf and φ share the one exp(−x²/2), so the derivative costs a few multiplies
/// more than the value, and the memory kept for backward is the same: the derivative replaces the input. The layer's
/// bias is added in the same pass instead of being copied into the GEMM's output first, and its gradient, a separate
/// reduction over all rows in libtorch, is summed while the gradient passes through. erf uses the approximation libtorch's own vectorised kernel uses (Abramowitz and Stegun
/// 7.1.26, absolute error at most 1.5e-7), so values agree with <c>functional.gelu</c> to float precision.
/// Used for contiguous float32 CPU tensors with gradients enabled, when torch computes on one thread
/// (<see cref="CpuKernels.Apply"/>); otherwise (and for inference) the layer's forward and <c>functional.gelu</c> run.
/// </remarks>
internal static class FusedGelu
{
    /// <summary>GELU(<paramref name="layer"/>(<paramref name="x"/>)) with the exact (erf) GELU.</summary>
    public static Tensor OfLinear(Linear layer, Tensor x)
    {
        var bias = layer.bias;
        if (!CpuKernels.Apply || !CpuKernels.FusedElementwise || bias is null || !torch.is_grad_enabled() || !UsesKernel(x) || !UsesKernel(bias) || !UsesKernel(layer.weight))
            return nn.functional.gelu(layer.forward(x));
        var product = nn.functional.linear(x, layer.weight);
        if (!UsesKernel(product) || (!product.requires_grad && !bias.requires_grad))
            return nn.functional.gelu(Add(product, bias));
        CpuKernels.CountAutogradNode();
        return BiasGeluFunction.apply(product, bias);
    }

    internal static bool UsesKernel(Tensor x) =>
        x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && x.is_contiguous() && x.numel() > 0
        && x.numel() * sizeof(float) <= int.MaxValue; // Tensor.bytes is a Span

    /// <summary>
    /// Writes GELU(x + bias) to <paramref name="value"/> and its derivative to <paramref name="slope"/>; x is
    /// [rows, width] in any leading shape, bias [width].
    /// </summary>
    internal static unsafe void Forward(Tensor x, Tensor bias, Tensor value, Tensor slope)
    {
        int width = (int)x.shape[^1];
        nint input = CpuKernels.Address(x), offsets = CpuKernels.Address(bias);
        nint output = CpuKernels.Address(value), derivative = CpuKernels.Address(slope);
        for (long row = 0, rows = x.numel() / width; row < rows; row++)
        {
            long at = row * width;
            Forward((float*)input + at, (float*)offsets, (float*)output + at, (float*)derivative + at, width);
        }
        CpuKernels.KeepAlive(x, bias, value, slope);
    }

    /// <summary>Writes the pre-activation's gradient (upstream × derivative) and returns the bias gradient.</summary>
    internal static unsafe Tensor Backward(Tensor upstream, Tensor slope, Tensor gradient)
    {
        int width = (int)slope.shape[^1];
        long rows = slope.numel() / width;
        nint dy = CpuKernels.Address(upstream), saved = CpuKernels.Address(slope), dx = CpuKernels.Address(gradient);
        var biasGradient = new CpuKernels.ColumnSums(width);
        for (long row = 0; row < rows; row++)
        {
            float* dyRow = (float*)dy + row * width, slopeRow = (float*)saved + row * width, dxRow = (float*)dx + row * width;
            int j = 0;
            for (; j <= width - Vector<float>.Count; j += Vector<float>.Count)
            {
                var product = Vector.Load(dyRow + j) * Vector.Load(slopeRow + j);
                product.Store(dxRow + j);
                biasGradient.Add(j, product);
            }
            for (; j < width; j++)
                biasGradient.Add(j, dxRow[j] = dyRow[j] * slopeRow[j]);
            biasGradient.EndRow();
        }
        CpuKernels.KeepAlive(upstream, slope, gradient);
        return biasGradient.ToTensor();
    }

    private static unsafe void Forward(float* input, float* bias, float* output, float* derivative, int width)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j <= width - Vector512<float>.Count; j += Vector512<float>.Count)
            {
                var (value, slope) = Evaluate(Vector512.Load(input + j) + Vector512.Load(bias + j));
                value.Store(output + j);
                slope.Store(derivative + j);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; j <= width - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                var (value, slope) = Evaluate(Vector256.Load(input + j) + Vector256.Load(bias + j));
                value.Store(output + j);
                slope.Store(derivative + j);
            }
        }
        for (; j < width; j++)
        {
            var (value, slope) = Evaluate(Vector128.CreateScalar(input[j] + bias[j]));
            output[j] = value.ToScalar();
            derivative[j] = slope.ToScalar();
        }
    }

    private const float P = 0.3275911f;
    private const float A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
    private const float InverseSqrt2 = 0.70710678118654752f;
    private const float InverseSqrt2Pi = 0.39894228040143268f;

    /// <summary>(x·Φ(x), Φ(x) + x·φ(x)) with Φ(x) = (1 + erf(x/√2))/2 and φ(x) = exp(−x²/2)/√(2π).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector512<float> Value, Vector512<float> Slope) Evaluate(Vector512<float> x)
    {
        var z = Vector512.Abs(x) * Vector512.Create(InverseSqrt2);
        var gaussian = ExpOfNonPositive(-(x * x) * Vector512.Create(0.5f));     // exp(−z²) = √(2π)·φ(x)
        var t = Vector512<float>.One / Vector512.FusedMultiplyAdd(Vector512.Create(P), z, Vector512<float>.One);
        var poly = Vector512.FusedMultiplyAdd(Vector512.Create(A5), t, Vector512.Create(A4));
        poly = Vector512.FusedMultiplyAdd(poly, t, Vector512.Create(A3));
        poly = Vector512.FusedMultiplyAdd(poly, t, Vector512.Create(A2));
        poly = Vector512.FusedMultiplyAdd(poly, t, Vector512.Create(A1));
        var erfcAbs = poly * t * gaussian;                                        // erfc(|z|)
        // Φ(x) = 1 − erfc(|z|)/2 for x ≥ 0 and erfc(|z|)/2 for x < 0: no cancellation in the left tail.
        var halfErfc = erfcAbs * Vector512.Create(0.5f);
        var cdf = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), halfErfc, Vector512<float>.One - halfErfc);
        var slope = Vector512.FusedMultiplyAdd(x * Vector512.Create(InverseSqrt2Pi), gaussian, cdf);
        return (x * cdf, slope);
    }

    /// <summary>
    /// exp(y) for y ≤ 0 in float precision (Cephes' expf polynomial, about 1 ulp), with y clamped at −80 so it never
    /// returns a denormal: the result only ever multiplies terms that are already below 1e-33 there.
    /// </summary>
    /// <remarks><c>Vector512.Exp</c> computes float exp in double precision, and was half of this kernel's time.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpOfNonPositive(Vector512<float> y)
    {
        y = Vector512.Max(y, Vector512.Create(-80f));
        var n = Vector512.Round(y * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), y);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.9875691500E-4f), r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Value, Vector256<float> Slope) Evaluate(Vector256<float> x)
    {
        var z = Vector256.Abs(x) * Vector256.Create(InverseSqrt2);
        var gaussian = Vector256.Exp(-(x * x) * Vector256.Create(0.5f));
        var t = Vector256<float>.One / Vector256.FusedMultiplyAdd(Vector256.Create(P), z, Vector256<float>.One);
        var poly = Vector256.FusedMultiplyAdd(Vector256.Create(A5), t, Vector256.Create(A4));
        poly = Vector256.FusedMultiplyAdd(poly, t, Vector256.Create(A3));
        poly = Vector256.FusedMultiplyAdd(poly, t, Vector256.Create(A2));
        poly = Vector256.FusedMultiplyAdd(poly, t, Vector256.Create(A1));
        var halfErfc = poly * t * gaussian * Vector256.Create(0.5f);
        var cdf = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), halfErfc, Vector256<float>.One - halfErfc);
        var slope = Vector256.FusedMultiplyAdd(x * Vector256.Create(InverseSqrt2Pi), gaussian, cdf);
        return (x * cdf, slope);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<float> Value, Vector128<float> Slope) Evaluate(Vector128<float> x)
    {
        var z = Vector128.Abs(x) * Vector128.Create(InverseSqrt2);
        var gaussian = Vector128.Exp(-(x * x) * Vector128.Create(0.5f));
        var t = Vector128<float>.One / (Vector128.Create(P) * z + Vector128<float>.One);
        var poly = ((((Vector128.Create(A5) * t + Vector128.Create(A4)) * t + Vector128.Create(A3)) * t + Vector128.Create(A2)) * t + Vector128.Create(A1));
        var halfErfc = poly * t * gaussian * Vector128.Create(0.5f);
        var cdf = Vector128.ConditionalSelect(Vector128.LessThan(x, Vector128<float>.Zero), halfErfc, Vector128<float>.One - halfErfc);
        var slope = x * Vector128.Create(InverseSqrt2Pi) * gaussian + cdf;
        return (x * cdf, slope);
    }

    /// <summary>The autograd node: forward saves the derivative, backward multiplies by it and sums the bias gradient.</summary>
    private sealed class BiasGeluFunction : autograd.SingleTensorFunction<BiasGeluFunction>
    {
        public override string Name => "MixerBiasGelu";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, bias) = ((Tensor)vars[0], (Tensor)vars[1]);
            var value = empty_like(x);
            var slope = empty_like(x);
            Forward(x, bias, value, slope);
            ctx.save_for_backward([slope]);
            return value;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradient)
        {
            var slope = ctx.get_saved_variables()[0];
            var inputGradient = empty_like(slope);
            var biasGradient = Backward(gradient.contiguous(), slope, inputGradient);
            return [inputGradient, biasGradient];
        }
    }
}
