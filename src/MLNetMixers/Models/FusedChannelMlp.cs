using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Models;

/// <summary>
/// The channel MLP, y = W2·GELU(W1·x + b1) + b2, for training on the CPU: its six products on the library's own GEMM
/// (<see cref="PanelGemm"/>), with the biases, GELU and GELU's derivative applied to each block of rows as it leaves
/// the GEMM, while it is still in L1.
/// </summary>
/// <remarks>
/// The channel MLP is most of a mixer's matmul FLOPs, and its products have a small inner dimension (d = 64 in the
/// tabular benchmark shape) against many rows: MKL spent a third of its time there packing A and clearing C, and the
/// bias and GELU passes over the [rows, 4d] activations came on top. Its effect on the trainers' step is the
/// "panel GEMMs off" row of benchmarks/results/ModelStep.md. The forward keeps GELU(W1·x + b1) and its derivative, as <see cref="FusedGelu"/> does;
/// backward forms the pre-activation's gradient dz = (dy·W2) ⊙ GELU'(z) and its bias gradient as the rows of dy·W2
/// come out. Each pass's second product runs on every 8-row block of the first one's output while that is in L1
/// (GELU(z)·W2ᵀ forward, dz·W1 backward), which saves reading [rows, 4d] back from memory
/// (benchmarks/results/Defaults.md#panel-gemms). Used under the conditions of the other fused kernels (<see cref="CpuKernels.Apply"/>: gradients on, one
/// torch thread, contiguous float32 CPU tensors), with AVX-512 and both widths multiples of 32; otherwise the
/// caller's operators run.
/// </remarks>
internal static class FusedChannelMlp
{
    /// <summary><paramref name="contract"/>(GELU(<paramref name="expand"/>(<paramref name="x"/>))), or null where the kernels do not apply.</summary>
    public static Tensor? TryApply(Linear expand, Linear contract, Tensor x)
    {
        if (!CpuKernels.PanelGemms || !CpuKernels.Apply || !PanelGemm.IsSupported || !torch.is_grad_enabled() || expand.bias is null || contract.bias is null)
            return null;
        long width = expand.weight.shape[1], hidden = expand.weight.shape[0];
        if (width % PanelGemm.PanelWidth != 0 || hidden % PanelGemm.PanelWidth != 0 || x.dim() < 1 || x.shape[^1] != width
            || contract.weight.shape[0] != width || contract.weight.shape[1] != hidden)
            return null;
        if (!FusedGelu.UsesKernel(x) || !FusedGelu.UsesKernel(expand.weight) || !FusedGelu.UsesKernel(expand.bias)
            || !FusedGelu.UsesKernel(contract.weight) || !FusedGelu.UsesKernel(contract.bias)
            || x.numel() / width * hidden * sizeof(float) > int.MaxValue) // Tensor.bytes is a Span
            return null;
        if (!x.requires_grad && !expand.weight.requires_grad && !expand.bias.requires_grad && !contract.weight.requires_grad && !contract.bias.requires_grad)
            return null;
        CpuKernels.CountAutogradNode();
        return ChannelMlpFunction.apply(x, expand.weight, expand.bias, contract.weight, contract.bias);
    }

    /// <summary>Writes GELU(x·W1ᵀ + b1), its derivative, and y = that·W2ᵀ + b2; x is [rows, d].</summary>
    internal static unsafe void Forward(Tensor x, Tensor w1, Tensor b1, Tensor w2, Tensor b2, Tensor value, Tensor slope, Tensor y)
    {
        int width = (int)w1.shape[1], hidden = (int)w1.shape[0];
        long rows = x.numel() / width;
        using var packed = empty(2 * PanelGemm.PackedLength(width, hidden));
        float* first = (float*)CpuKernels.Address(packed), second = first + PanelGemm.PackedLength(width, hidden);
        PanelGemm.Pack((float*)CpuKernels.Address(w1), 1, width, width, hidden, first); // B = W1ᵀ
        PanelGemm.Pack((float*)CpuKernels.Address(w2), 1, hidden, hidden, width, second); // B = W2ᵀ
        var contract = new Bias((float*)CpuKernels.Address(b2), (float*)CpuKernels.Address(y), width);
        var biasGelu = new BiasGelu((float*)CpuKernels.Address(b1), (float*)CpuKernels.Address(value), (float*)CpuKernels.Address(slope), hidden,
                                    second, width, contract);
        PanelGemm.Multiply((float*)CpuKernels.Address(x), rows, width, first, hidden, ref biasGelu);
        CpuKernels.KeepAlive(x, w1, b1, w2, b2, value, slope, y, packed);
    }

    /// <summary>Writes dx, dW1, dW2 and the pre-activation's gradient dz; returns db1, dz's column sums.</summary>
    internal static unsafe Tensor Backward(Tensor dy, Tensor x, Tensor value, Tensor slope, Tensor w1, Tensor w2,
                                         Tensor dz, Tensor dx, Tensor dw1, Tensor dw2)
    {
        int width = (int)w1.shape[1], hidden = (int)w1.shape[0];
        long rows = x.numel() / width;
        using var packed = empty(2 * PanelGemm.PackedLength(width, hidden));
        float* first = (float*)CpuKernels.Address(packed), second = first + PanelGemm.PackedLength(width, hidden);
        float* upstream = (float*)CpuKernels.Address(dy), preActivation = (float*)CpuKernels.Address(dz);
        PanelGemm.Pack((float*)CpuKernels.Address(w2), hidden, 1, width, hidden, first); // B = W2
        PanelGemm.Pack((float*)CpuKernels.Address(w1), width, 1, hidden, width, second); // B = W1

        var biasGradient = new CpuKernels.ColumnSums(hidden);
        var inputGradient = new PanelGemm.Plain((float*)CpuKernels.Address(dx), width);
        var timesSlope = new TimesSlope((float*)CpuKernels.Address(slope), preActivation, hidden, biasGradient, second, width, inputGradient);
        PanelGemm.Multiply(upstream, rows, width, first, hidden, ref timesSlope);

        PanelGemm.MultiplyTransposed(upstream, width, rows, (float*)CpuKernels.Address(value), hidden, (float*)CpuKernels.Address(dw2));
        PanelGemm.MultiplyTransposed(preActivation, hidden, rows, (float*)CpuKernels.Address(x), width, (float*)CpuKernels.Address(dw1));
        CpuKernels.KeepAlive(dy, x, value, slope, w1, w2, dz, dx, dw1, dw2, packed);
        return biasGradient.ToTensor();
    }

    /// <summary>
    /// z = sums + b1 as the tile leaves the registers; once 8 full rows are in L1, GELU(z) and its derivative, and
    /// those rows' product with W2ᵀ (<paramref name="next"/>, packed), so GELU(z) is read back from L1, not memory.
    /// </summary>
    private readonly unsafe struct BiasGelu(float* bias, float* value, float* slope, int columns, float* next, int nextColumns, Bias nextEpilogue) : PanelGemm.IEpilogue
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(long row, int column, Vector512<float> sums) => (sums + Vector512.Load(bias + column)).Store(value + row * columns + column);

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        public void Finish(long row, int count)
        {
            for (long at = row * columns, end = (row + count) * columns; at < end; at += Vector512<float>.Count)
            {
                var (gelu, derivative) = FusedGelu.Evaluate(Vector512.Load(value + at));
                gelu.Store(value + at);
                derivative.Store(slope + at);
            }
            var contract = nextEpilogue.From(row);
            PanelGemm.Multiply(value + row * columns, count, columns, next, nextColumns, ref contract);
        }
    }

    private readonly unsafe struct Bias(float* bias, float* output, int columns) : PanelGemm.IEpilogue
    {
        /// <summary>The same output from row <paramref name="row"/> on, for a product over those rows alone.</summary>
        public Bias From(long row) => new(bias, output + row * columns, columns);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(long row, int column, Vector512<float> sums) => (sums + Vector512.Load(bias + column)).Store(output + row * columns + column);

        public void Finish(long row, int count) { }
    }

    /// <summary>
    /// dz = sums ⊙ GELU'(z) as the tile leaves the registers; once 8 full rows are in L1, their sums into db1 and their
    /// product with W1 (<paramref name="next"/>, packed) into dx.
    /// </summary>
    private readonly unsafe struct TimesSlope(float* slope, float* output, int columns, CpuKernels.ColumnSums biasGradient,
                                              float* next, int nextColumns, PanelGemm.Plain nextEpilogue) : PanelGemm.IEpilogue
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(long row, int column, Vector512<float> sums)
        {
            long at = row * columns + column;
            (sums * Vector512.Load(slope + at)).Store(output + at);
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        public void Finish(long row, int count)
        {
            for (float* from = output + row * columns, end = from + (long)count * columns; from < end; from += columns)
            {
                for (int j = 0; j < columns; j += Vector<float>.Count)
                    biasGradient.Add(j, Vector.Load(from + j));
                biasGradient.EndRow();
            }
            var inputGradient = nextEpilogue.From(row);
            PanelGemm.Multiply(output + row * columns, count, columns, next, nextColumns, ref inputGradient);
        }
    }

    /// <summary>The autograd node: saves x, GELU's value and derivative, and the weights.</summary>
    private sealed class ChannelMlpFunction : autograd.SingleTensorFunction<ChannelMlpFunction>
    {
        public override string Name => "MixerChannelMlp";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, w1, b1, w2, b2) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], (Tensor)vars[4]);
            long hidden = w1.shape[0];
            var hiddenShape = x.shape.ToArray();
            hiddenShape[^1] = hidden;
            var value = empty(hiddenShape);
            var slope = empty(hiddenShape);
            var y = empty_like(x);
            Forward(x, w1, b1, w2, b2, value, slope, y);
            ctx.save_for_backward([x, value, slope, w1, w2]);
            return y;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradient)
        {
            var saved = ctx.get_saved_variables();
            var (x, value, slope, w1, w2) = (saved[0], saved[1], saved[2], saved[3], saved[4]);
            var dy = gradient.contiguous();
            var dz = empty_like(slope);
            var dx = empty_like(x);
            var dw1 = empty_like(w1);
            var dw2 = empty_like(w2);
            var db1 = Backward(dy, x, value, slope, w1, w2, dz, dx, dw1, dw2);
            var db2 = dy.view(-1, w1.shape[1]).sum(dim: 0);
            return [dx, dw1, db1, dw2, db2];
        }
    }
}
