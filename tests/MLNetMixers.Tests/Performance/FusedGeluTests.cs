using MLNetMixers.Models;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>The fused GELU gives libtorch's values and gradients, and steps aside where its kernel does not apply.</summary>
public class FusedGeluTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ValuesAndGradientsMatchTheExactDefinition(int threads)
    {
        set_num_threads(threads);
        random.manual_seed(11);
        using var scope = NewDisposeScope();
        // Enough elements to split across workers; an odd count leaves a scalar tail; the tails of the
        // distribution (|x| up to 30) exercise the erfc branch and exp's underflow.
        var x = cat([randn(300_001) * 3, tensor(new[] { 0f, -0f, 1e-7f, -1e-7f, 0.5f, -0.5f, 5f, -5f, 9f, -9f, 13f, -13f, 30f, -30f })]);
        var upstream = randn_like(x);

        var (fused, fusedGradient) = ValueAndGradient(FusedGelu.Apply, x, upstream);
        var (exact, exactGradient) = ValueAndGradient(input => nn.functional.gelu(input.to(ScalarType.Float64)).to(ScalarType.Float32), x, upstream);

        // The gradient is the upstream times the derivative the kernel saved, bit for bit: the fused node ran.
        Assert.True(FusedGelu.UsesKernel(x));
        var slope = empty_like(x);
        FusedGelu.Forward(x, empty_like(x), slope);
        Assert.True(allclose(fusedGradient, upstream * slope, rtol: 0, atol: 0));
        Assert.True(allclose(fused, exact, rtol: 1e-5, atol: 1e-6), $"largest value error {(fused - exact).abs().max().item<float>()}");
        Assert.True(allclose(fusedGradient, exactGradient, rtol: 1e-5, atol: 1e-6), $"largest gradient error {(fusedGradient - exactGradient).abs().max().item<float>()}");
        set_num_threads(1);
    }

    [Fact]
    public void NotANumberStaysNotANumber()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { float.NaN, 1f }).requires_grad_();
        var y = FusedGelu.Apply(x);
        y.sum().backward();
        Assert.True(float.IsNaN(y[0].item<float>()));
        Assert.True(float.IsNaN(x.grad![0].item<float>()));
        Assert.False(float.IsNaN(y[1].item<float>()));
    }

    [Fact]
    public void OtherTensorsUseLibtorchsGelu()
    {
        using var scope = NewDisposeScope();
        var doubles = randn(8, dtype: ScalarType.Float64).requires_grad_();
        var strided = randn(8, 8).t().requires_grad_();
        Assert.False(FusedGelu.UsesKernel(doubles));
        Assert.False(FusedGelu.UsesKernel(strided));
        var (value, gradient) = ValueAndGradient(FusedGelu.Apply, strided, ones_like(strided));
        var (expected, expectedGradient) = ValueAndGradient(nn.functional.gelu, strided, ones_like(strided));
        Assert.True(allclose(value, expected, rtol: 0, atol: 0));
        Assert.True(allclose(gradient, expectedGradient, rtol: 0, atol: 0));
        // Without a gradient to compute there is nothing to save: libtorch's forward alone is as fast.
        using (no_grad())
            Assert.True(allclose(FusedGelu.Apply(strided), nn.functional.gelu(strided)));
    }

    private static (Tensor Value, Tensor Gradient) ValueAndGradient(Func<Tensor, Tensor> gelu, Tensor x, Tensor upstream)
    {
        var input = x.detach().clone().requires_grad_();
        var y = gelu(input);
        y.backward([upstream]);
        return (y.detach(), input.grad!.detach().clone());
    }
}
