using MLNetMixers.Benchmarks;
using MLNetMixers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>
/// The channel MLP on the library's panel GEMMs gives the values and the five gradients of its definition,
/// W2·GELU(W1·x + b1) + b2, and steps aside where its kernels do not apply.
/// </summary>
public class FusedChannelMlpTests
{
    [Theory]
    [InlineData(5, 13, 64, 4)]   // 65 rows: eight blocks of 8 and one row on its own
    [InlineData(3, 43, 32, 2)]   // 129 rows: the weight gradients' second chunk of depth holds one row
    [InlineData(2, 64, 64, 4)]   // the tabular benchmark's rows per position
    public void ValuesAndGradientsMatchTheDefinitionInFloat64(int batch, int positions, int width, int ratio)
    {
        // Without AVX-512 the caller's operators run instead (StepsAsideWhereItsKernelsDoNotApply).
        Assert.SkipUnless(PanelGemm.IsSupported, "the panel GEMMs need AVX-512 (Vector512 is not hardware-accelerated here)");
        set_num_threads(1);
        random.manual_seed(21);
        using var scope = NewDisposeScope();
        using var expand = nn.Linear(width, ratio * width);
        using var contract = nn.Linear(ratio * width, width);
        var x = randn(batch, positions, width);
        var upstream = randn(batch, positions, width);

        var fused = Gradients(expand, contract, x, upstream, input => FusedChannelMlp.TryApply(expand, contract, input)
            ?? throw new InvalidOperationException("The fused channel MLP stepped aside."), out bool ran);
        Assert.True(ran);

        expand.to(ScalarType.Float64);
        contract.to(ScalarType.Float64);
        var exact = Gradients(expand, contract, x.to(ScalarType.Float64), upstream.to(ScalarType.Float64),
            input => contract.forward(nn.functional.gelu(expand.forward(input))), out _);
        string[] names = ["output", "input gradient", "W1 gradient", "b1 gradient", "W2 gradient", "b2 gradient"];
        for (int i = 0; i < names.Length; i++)
        {
            var error = (fused[i].to(ScalarType.Float64) - exact[i]).abs().max().item<double>();
            var scale = exact[i].abs().max().item<double>();
            Assert.True(error <= 1e-5 * scale, $"{names[i]}: largest error {error} against largest value {scale}");
        }
    }

    [Fact]
    public void TheMixerBlockUsesItAndAgreesWithLibtorchsOperators()
    {
        set_num_threads(1);
        random.manual_seed(22);
        using var scope = NewDisposeScope();
        using var block = new MixerBlock(new TokenMixing(sequenceLength: 16, causal: false), width: 64);
        var x = randn(6, 16, 64);
        var upstream = randn(6, 16, 64);
        var fused = BlockGradients(block, x, upstream);
        var libtorch = KernelSwitches.WithoutPanelGemms(() => BlockGradients(block, x, upstream));
        // Different arithmetic, so not bit-identical where the kernel ran.
        Assert.Equal(PanelGemm.IsSupported, !allclose(fused[0], libtorch[0], rtol: 0, atol: 0));
        for (int i = 0; i < fused.Length; i++)
        {
            var error = (fused[i] - libtorch[i]).abs().max().item<float>();
            Assert.True(error <= 1e-4 * libtorch[i].abs().max().item<float>(), $"tensor {i}: largest difference {error}");
        }
    }

    [Fact]
    public void StepsAsideWhereItsKernelsDoNotApply()
    {
        set_num_threads(1);
        using var scope = NewDisposeScope();
        using var expand = nn.Linear(64, 256);
        using var contract = nn.Linear(256, 64);
        using var narrow = nn.Linear(48, 192);
        using var narrowBack = nn.Linear(192, 48);
        var x = randn(10, 64);

        Assert.Null(FusedChannelMlp.TryApply(narrow, narrowBack, randn(10, 48)));                   // 48 is no multiple of 32
        Assert.Null(FusedChannelMlp.TryApply(expand, contract, randn(64, 10).t()));                  // not contiguous
        Assert.Null(FusedChannelMlp.TryApply(expand, contract, randn(10, 64, dtype: ScalarType.Float64)));
        using (no_grad())
            Assert.Null(FusedChannelMlp.TryApply(expand, contract, x));                              // inference: nothing to save
        set_num_threads(2);
        try
        {
            Assert.Null(FusedChannelMlp.TryApply(expand, contract, x));                              // libtorch's threads
        }
        finally
        {
            set_num_threads(1);
        }
        Assert.Equal(PanelGemm.IsSupported, FusedChannelMlp.TryApply(expand, contract, x) is not null);
    }

    /// <summary>The output, then the gradients of x, W1, b1, W2 and b2.</summary>
    private static Tensor[] Gradients(nn.Module expand, nn.Module contract, Tensor x, Tensor upstream, Func<Tensor, Tensor> forward, out bool ran)
    {
        expand.zero_grad();
        contract.zero_grad();
        var input = x.detach().clone().requires_grad_();
        Tensor y;
        try
        {
            y = forward(input);
            ran = true;
        }
        catch (InvalidOperationException)
        {
            ran = false;
            return [];
        }
        y.backward([upstream]);
        return [y.detach(), input.grad!.clone(),
            expand.get_parameter("weight")!.grad!.clone(), expand.get_parameter("bias")!.grad!.clone(),
            contract.get_parameter("weight")!.grad!.clone(), contract.get_parameter("bias")!.grad!.clone()];
    }

    /// <summary>The block's output, then the gradients of its input and of every parameter.</summary>
    private static Tensor[] BlockGradients(MixerBlock block, Tensor x, Tensor upstream)
    {
        block.zero_grad();
        var input = x.detach().clone().requires_grad_();
        var y = block.forward(input);
        y.backward([upstream]);
        return [y.detach(), input.grad!.clone(), .. block.parameters().Select(p => p.grad!.clone())];
    }
}
