using System.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Models;

/// <summary>
/// LayerNorm over the last axis for training on the CPU, as one pass per row forward and one backward.
/// </summary>
/// <remarks>
/// Mixer rows are short (d = 64 to 256 features) and there are many of them (batch × positions). libtorch's CPU
/// LayerNorm spends most of its time per row rather than per element (benchmarks/results/Defaults.md#fused-kernels;
/// its effect on the trainers' step: the kernel rows of benchmarks/results/ModelStep.md). This kernel works row by row while the row is in L1: the mean (of the differences
/// from the row's first value), the variance about it, the normalised row x̂ saved for backward, then y = x̂·γ + β. Backward per row:
/// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ, and dγ, dβ summed over rows (in double across blocks of rows).
/// Used when the row length is a multiple of the SIMD width, everything is contiguous float32 on the CPU, gradients
/// are enabled and torch computes on one thread (<see cref="CpuKernels.Apply"/>); otherwise (and for inference) the
/// module's own forward runs.
/// </remarks>
internal static class FusedLayerNorm
{
    /// <summary><paramref name="norm"/>(<paramref name="x"/>), through the fused kernel where it applies.</summary>
    public static Tensor Apply(LayerNorm norm, Tensor x)
    {
        if (!CpuKernels.Apply || !CpuKernels.FusedElementwise || !torch.is_grad_enabled() || norm.bias is null || norm.normalized_shape.Length != 1
            || !UsesKernel(x, norm.weight, norm.bias) || x.shape[^1] != norm.normalized_shape[0])
            return norm.forward(x);
        if (!x.requires_grad && !norm.weight.requires_grad && !norm.bias.requires_grad)
            return norm.forward(x);
        CpuKernels.CountAutogradNode();
        return LayerNormFunction.apply(x, norm.weight, norm.bias, norm.eps);
    }

    internal static bool UsesKernel(Tensor x, Tensor weight, Tensor bias) =>
        Vector.IsHardwareAccelerated && x.dim() >= 1 && x.shape[^1] % Vector<float>.Count == 0 && x.numel() > 0
        && x.numel() * sizeof(float) <= int.MaxValue // Tensor.bytes is a Span
        && x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && x.is_contiguous()
        && weight.device_type == DeviceType.CPU && weight.dtype == ScalarType.Float32 && weight.is_contiguous()
        && bias.device_type == DeviceType.CPU && bias.dtype == ScalarType.Float32 && bias.is_contiguous();

    /// <summary>Writes y, the normalised rows x̂ and each row's 1/σ.</summary>
    internal static unsafe void Forward(Tensor x, Tensor weight, Tensor bias, double eps, Tensor y, Tensor normalized, Tensor rstd)
    {
        int width = (int)x.shape[^1];
        long rows = x.numel() / width;
        nint input = CpuKernels.Address(x), output = CpuKernels.Address(y), saved = CpuKernels.Address(normalized);
        nint gamma = CpuKernels.Address(weight), beta = CpuKernels.Address(bias), inverse = CpuKernels.Address(rstd);
        float epsilon = (float)eps;
        float* g = (float*)gamma, b = (float*)beta;
        for (long row = 0; row < rows; row++)
        {
            float* xRow = (float*)input + row * width, xHat = (float*)saved + row * width, yRow = (float*)output + row * width;
            // Summing differences from the row's first value keeps the mean exact when the row sits far from zero.
            var shift = new Vector<float>(xRow[0]);
            var sum = Vector<float>.Zero;
            for (int j = 0; j < width; j += Vector<float>.Count)
                sum += Vector.Load(xRow + j) - shift;
            var mean = shift + new Vector<float>(Vector.Sum(sum) / width);
            var squares = Vector<float>.Zero;
            for (int j = 0; j < width; j += Vector<float>.Count)
            {
                var centred = Vector.Load(xRow + j) - mean;
                squares += centred * centred;
            }
            float inverseDeviation = 1f / MathF.Sqrt(Vector.Sum(squares) / width + epsilon);
            ((float*)inverse)[row] = inverseDeviation;
            var scale = new Vector<float>(inverseDeviation);
            for (int j = 0; j < width; j += Vector<float>.Count)
            {
                var normalizedValue = (Vector.Load(xRow + j) - mean) * scale;
                normalizedValue.Store(xHat + j);
                Vector.FusedMultiplyAdd(normalizedValue, Vector.Load(g + j), Vector.Load(b + j)).Store(yRow + j);
            }
        }
        // The kernel only holds raw addresses: the tensors must outlive it even where no DisposeScope holds them.
        CpuKernels.KeepAlive(x, weight, bias, y, normalized, rstd);
    }

    /// <summary>Writes dx and returns (dγ, dβ).</summary>
    internal static unsafe (Tensor WeightGradient, Tensor BiasGradient) Backward(Tensor dy, Tensor weight, Tensor normalized, Tensor rstd, Tensor dx)
    {
        int width = (int)normalized.shape[^1];
        long rows = normalized.numel() / width;
        nint upstream = CpuKernels.Address(dy), saved = CpuKernels.Address(normalized), inverse = CpuKernels.Address(rstd);
        nint gamma = CpuKernels.Address(weight), output = CpuKernels.Address(dx);
        var weightGradient = new CpuKernels.ColumnSums(width);
        var biasGradient = new CpuKernels.ColumnSums(width);
        float* g = (float*)gamma;
        for (long row = 0; row < rows; row++)
        {
            float* dyRow = (float*)upstream + row * width, xHat = (float*)saved + row * width, dxRow = (float*)output + row * width;
            var sumG = Vector<float>.Zero;
            var sumGX = Vector<float>.Zero;
            for (int j = 0; j < width; j += Vector<float>.Count)
            {
                var d = Vector.Load(dyRow + j);
                var xh = Vector.Load(xHat + j);
                var gj = d * Vector.Load(g + j);
                sumG += gj;
                sumGX += gj * xh;
                weightGradient.Add(j, d * xh);
                biasGradient.Add(j, d);
            }
            var meanG = new Vector<float>(Vector.Sum(sumG) / width);
            var meanGX = new Vector<float>(Vector.Sum(sumGX) / width);
            var scale = new Vector<float>(((float*)inverse)[row]);
            for (int j = 0; j < width; j += Vector<float>.Count)
            {
                var gj = Vector.Load(dyRow + j) * Vector.Load(g + j);
                (scale * (gj - meanG - Vector.Load(xHat + j) * meanGX)).Store(dxRow + j);
            }
            weightGradient.EndRow();
            biasGradient.EndRow();
        }
        CpuKernels.KeepAlive(dy, weight, normalized, rstd, dx);
        return (weightGradient.ToTensor(), biasGradient.ToTensor());
    }

    private sealed class LayerNormFunction : autograd.SingleTensorFunction<LayerNormFunction>
    {
        public override string Name => "MixerLayerNorm";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, weight, bias, eps) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (double)vars[3]);
            var y = empty_like(x);
            var normalized = empty_like(x);
            var rstd = empty(x.numel() / x.shape[^1]);
            Forward(x, weight, bias, eps, y, normalized, rstd);
            ctx.save_for_backward([normalized, rstd, weight]);
            return y;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradient)
        {
            var saved = ctx.get_saved_variables();
            var (normalized, rstd, weight) = (saved[0], saved[1], saved[2]);
            var upstream = gradient.contiguous();
            var dx = empty_like(normalized);
            var (weightGradient, biasGradient) = Backward(upstream, weight, normalized, rstd, dx);
            return [dx, weightGradient, biasGradient, null!]; // none for eps
        }
    }
}
