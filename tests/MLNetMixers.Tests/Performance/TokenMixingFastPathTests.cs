using MLNetMixers.Benchmarks;
using MLNetMixers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>The batched-GEMM token mixing computes the same values and gradients as its definition, matmul(W, x) + bias.</summary>
public class TokenMixingFastPathTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FastPathMatchesReferenceIncludingGradients(bool causal)
    {
        set_num_threads(1);
        random.manual_seed(3);
        using var scope = NewDisposeScope();
        using var mixing = new TokenMixing(sequenceLength: 7, causal);
        var x = randn(5, 7, 3, dtype: ScalarType.Float64);
        mixing.to(ScalarType.Float64);
        var upstream = randn(5, 7, 3, dtype: ScalarType.Float64);

        var (fastY, fastGrads) = ForwardBackward(x, upstream, input => mixing.forward(input), mixing);
        var (referenceY, referenceGrads) = ForwardBackward(x, upstream, input => TokenMixingVariants.MixReference(mixing.Matrix, input, mixing.Bias), mixing);

        Assert.True(allclose(fastY, referenceY, rtol: 1e-12, atol: 1e-12), "outputs differ");
        for (int i = 0; i < fastGrads.Length; i++)
            Assert.True(allclose(fastGrads[i], referenceGrads[i], rtol: 1e-12, atol: 1e-12), $"gradient {i} differs");
        if (causal)
        {
            // Position 0 must not see later positions: its output ignores a change at position 6.
            var changed = x.clone();
            changed[.., 6, ..] += 1.0;
            Assert.True(allclose(mixing.forward(changed)[.., 0, ..], fastY[.., 0, ..]));
        }
    }

    [Fact]
    public void MultiHeadFastPathMatchesReferenceIncludingGradients()
    {
        random.manual_seed(5);
        using var scope = NewDisposeScope();
        var matrices = randn(3, 6, 6, dtype: ScalarType.Float64).tril();
        var bias = randn(3, 6, 1, dtype: ScalarType.Float64);
        var x = randn(4, 3, 6, 2, dtype: ScalarType.Float64);
        var upstream = randn(4, 3, 6, 2, dtype: ScalarType.Float64);
        var fast = ForwardBackward(MultiHeadTokenMixing.MixHeads, matrices, x, bias, upstream);
        var reference = ForwardBackward(TokenMixingVariants.MixHeadsReference, matrices, x, bias, upstream);
        for (int i = 0; i < fast.Length; i++)
            Assert.True(allclose(fast[i], reference[i], rtol: 1e-12, atol: 1e-12), $"output/gradient {i} differs");
    }

    /// <summary>Output, then the gradients of the matrices, input and bias.</summary>
    private static Tensor[] ForwardBackward(Func<Tensor, Tensor, Tensor, Tensor> mix, Tensor matrices, Tensor x, Tensor bias, Tensor upstream)
    {
        var w = matrices.detach().clone().requires_grad_();
        var input = x.detach().clone().requires_grad_();
        var b = bias.detach().clone().requires_grad_();
        var y = mix(w, input, b);
        y.backward([upstream]);
        return [y.detach(), w.grad!.clone(), input.grad!.clone(), b.grad!.clone()];
    }

    [Fact]
    public void NonBatchedInputUsesTheDefinition()
    {
        random.manual_seed(4);
        using var scope = NewDisposeScope();
        using var mixing = new TokenMixing(sequenceLength: 6, causal: false);
        var x = randn(6, 4);
        Assert.True(allclose(mixing.forward(x), matmul(mixing.Matrix, x) + mixing.Bias, rtol: 1e-6, atol: 1e-6));
    }

    private static (Tensor Output, Tensor[] Gradients) ForwardBackward(Tensor x, Tensor upstream, Func<Tensor, Tensor> mix, nn.Module module)
    {
        module.zero_grad();
        var input = x.detach().clone().requires_grad_();
        var y = mix(input);
        y.backward([upstream]);
        var grads = module.parameters().Select(p => p.grad!.clone()).Append(input.grad!.clone()).ToArray();
        return (y.detach(), grads);
    }
}
