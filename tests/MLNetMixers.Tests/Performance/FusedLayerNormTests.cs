using MLNetMixers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>The fused LayerNorm gives libtorch's values and gradients, and steps aside where its kernel does not apply.</summary>
public class FusedLayerNormTests
{
    [Theory]
    [InlineData(64)]
    [InlineData(256)]
    public void ValuesAndGradientsMatchLibtorch(int width)
    {
        set_num_threads(1);
        random.manual_seed(17);
        using var scope = NewDisposeScope();
        using var norm = nn.LayerNorm(width);
        using (no_grad())
        {
            norm.weight.copy_(randn(width));
            norm.bias!.copy_(randn(width));
        }
        // Rows with a large offset and a tiny spread test the mean and variance; the row count makes the parameter
        // gradients sums of thousands of terms.
        var x = randn(3, 1237, width) * 4 + 2;
        x[0, 0] = full(width, 1000f) + randn(width) * 1e-2f;
        var upstream = randn_like(x);

        var fused = AffineGradients.Of(norm, input => FusedLayerNorm.Apply(norm, input), x, upstream);
        var libtorch = AffineGradients.Of(norm, norm.forward, x, upstream);
        norm.to(ScalarType.Float64);
        var exact = AffineGradients.Of(norm, norm.forward, x.to(ScalarType.Float64), upstream.to(ScalarType.Float64));
        norm.to(ScalarType.Float32);

        // Both are float32 computations: the fused kernel's error against the float64 result must be of the
        // order of libtorch's own.
        Assert.True(FusedLayerNorm.UsesKernel(x, norm.weight, norm.bias!));
        string[] names = ["output", "input gradient", "weight gradient", "bias gradient"];
        for (int i = 0; i < names.Length; i++)
        {
            float fusedError = LargestError(fused[i], exact[i]), libtorchError = LargestError(libtorch[i], exact[i]);
            Assert.True(fusedError <= 2 * libtorchError + 1e-5f, $"{names[i]}: largest error {fusedError}, libtorch's {libtorchError}");
            // Different arithmetic, so not bit-identical: the kernel did run.
            if (i < 2)
                Assert.False(allclose(fused[i], libtorch[i], rtol: 0, atol: 0), $"{names[i]}: identical to libtorch's");
        }
    }

    [Fact]
    public void OddWidthsAndInferenceUseTheModulesForward()
    {
        using var scope = NewDisposeScope();
        using var norm = nn.LayerNorm(7);
        var x = randn(5, 7).requires_grad_();
        Assert.False(FusedLayerNorm.UsesKernel(x, norm.weight, norm.bias!));
        Assert.True(allclose(FusedLayerNorm.Apply(norm, x), norm.forward(x), rtol: 0, atol: 0));
    }

    private static float LargestError(Tensor value, Tensor exact) => (float)(value.to(ScalarType.Float64) - exact).abs().max().item<double>();
}
