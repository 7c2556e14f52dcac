using MLNetMixers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>The fused bias + GELU gives libtorch's values and gradients, and steps aside where its kernel does not apply.</summary>
public class FusedGeluTests
{
    [Theory]
    [InlineData(256)]
    [InlineData(37)]
    public void KernelMatchesTheExactDefinition(int width)
    {
        random.manual_seed(11);
        using var scope = NewDisposeScope();
        // An odd width leaves a scalar tail in every row; the tails of the
        // distribution (|x| up to 30) exercise the erfc branch and exp's underflow.
        var x = randn(2001, width) * 3;
        x[0, ..14] = tensor(new[] { 0f, -0f, 1e-7f, -1e-7f, 0.5f, -0.5f, 5f, -5f, 9f, -9f, 13f, -13f, 30f, -30f });
        var bias = randn(width);
        var upstream = randn_like(x);

        var value = empty_like(x);
        var slope = empty_like(x);
        FusedGelu.Forward(x, bias, value, slope);
        var inputGradient = empty_like(x);
        var biasGradient = FusedGelu.Backward(upstream, slope, inputGradient);

        var exactInput = (x.to(ScalarType.Float64) + bias.to(ScalarType.Float64)).requires_grad_();
        var exact = nn.functional.gelu(exactInput);
        exact.backward([upstream.to(ScalarType.Float64)]);
        var exactGradient = exactInput.grad!;

        AssertClose(value, exact, "value", 1e-6);
        AssertClose(inputGradient, exactGradient, "input gradient", 1e-6);
        AssertClose(biasGradient, exactGradient.sum(dim: 0), "bias gradient", 1e-4);
    }

    [Fact]
    public void LinearLayerValuesAndGradientsMatchLibtorch()
    {
        set_num_threads(1);
        random.manual_seed(12);
        using var scope = NewDisposeScope();
        using var layer = nn.Linear(64, 256);
        var x = randn(8, 33, 64);
        var upstream = randn(8, 33, 256);
        var fused = AffineGradients.Of(layer, input => FusedGelu.OfLinear(layer, input), x, upstream);
        var libtorch = AffineGradients.Of(layer, input => nn.functional.gelu(layer.forward(input)), x, upstream);
        layer.to(ScalarType.Float64);
        var exact = AffineGradients.Of(layer, input => nn.functional.gelu(layer.forward(input)), x.to(ScalarType.Float64), upstream.to(ScalarType.Float64));
        layer.to(ScalarType.Float32);
        // Different arithmetic, so not bit-identical to libtorch's float32 result: the kernel did run.
        Assert.False(allclose(fused[0], libtorch[0], rtol: 0, atol: 0));
        string[] names = ["output", "input gradient", "weight gradient", "bias gradient"];
        for (int i = 0; i < names.Length; i++)
            AssertClose(fused[i], exact[i], names[i], 1e-4);
    }

    [Fact]
    public void NotANumberStaysNotANumber()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[,] { { float.NaN, 1f } });
        var value = empty_like(x);
        var slope = empty_like(x);
        FusedGelu.Forward(x, zeros(2), value, slope);
        Assert.True(float.IsNaN(value[0, 0].item<float>()) && float.IsNaN(slope[0, 0].item<float>()));
        Assert.False(float.IsNaN(value[0, 1].item<float>()) || float.IsNaN(slope[0, 1].item<float>()));
    }

    [Fact]
    public void MoreThanOneTorchThreadUsesLibtorch()
    {
        using var scope = NewDisposeScope();
        using var layer = nn.Linear(16, 32);
        var x = randn(64, 16);
        set_num_threads(2);
        try
        {
            Assert.False(CpuKernels.Apply);
            var fused = AffineGradients.Of(layer, input => FusedGelu.OfLinear(layer, input), x, ones(64, 32));
            var libtorch = AffineGradients.Of(layer, input => nn.functional.gelu(layer.forward(input)), x, ones(64, 32));
            for (int i = 0; i < fused.Length; i++)
                Assert.True(allclose(fused[i], libtorch[i], rtol: 0, atol: 0));
        }
        finally
        {
            set_num_threads(1);
        }
    }

    [Fact]
    public void OtherTensorsUseTheLayerAndLibtorchsGelu()
    {
        using var scope = NewDisposeScope();
        using var layer = nn.Linear(8, 8);
        var strided = randn(8, 8).t();
        Assert.False(FusedGelu.UsesKernel(randn(8, dtype: ScalarType.Float64)));
        Assert.False(FusedGelu.UsesKernel(strided));
        var expected = nn.functional.gelu(layer.forward(strided));
        Assert.True(allclose(FusedGelu.OfLinear(layer, strided), expected, rtol: 0, atol: 0));
        // Without gradients there is nothing to save: libtorch's forward alone is as fast.
        var contiguous = strided.contiguous();
        using (no_grad())
            Assert.True(allclose(FusedGelu.OfLinear(layer, contiguous), nn.functional.gelu(layer.forward(contiguous)), rtol: 0, atol: 0));
    }

    private static void AssertClose(Tensor actual, Tensor exact, string name, double tolerance)
    {
        var error = (actual.to(ScalarType.Float64) - exact.detach()).abs();
        var allowed = exact.detach().abs() * 1e-5 + tolerance;
        Assert.True(error.le(allowed).all().item<bool>(), $"{name}: largest error {error.max().item<double>()}");
    }
}
