using MLNetMixers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Text;

/// <summary>The token-mixer family: every language-model architecture decodes, and only causal mixers may.</summary>
public class TokenMixerFamilyTests
{
    public static TheoryData<MixerLanguageModelArchitecture> Architectures() => new(Enum.GetValues<MixerLanguageModelArchitecture>());

    [Theory]
    [MemberData(nameof(Architectures))]
    public void EveryLanguageModelArchitectureHasACausalMixerWhoseStepsMatchItsForward(MixerLanguageModelArchitecture architecture)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        using var mixer = TokenMixers.ForLanguageModel(architecture, contextLength: 6, width: 8, heads: 2);
        var decoder = Assert.IsAssignableFrom<ICausalTokenMixer>(mixer);
        using var noGrad = no_grad();
        var x = randn(2, 6, 8);
        var full = mixer.forward(x);
        using var cache = new DecodingCache(6);
        var prefix = decoder.Prefill(x[.., ..3], cache);
        Assert.True(allclose(prefix, full[.., ..3], rtol: 1e-5, atol: 1e-5));
        for (int i = 3; i < 6; i++)
            Assert.True(allclose(decoder.Step(x[.., i..(i + 1)], cache), full[.., i..(i + 1)], rtol: 1e-5, atol: 1e-5), $"{architecture}: position {i}");
    }

    [Theory]
    [InlineData(TabularArchitecture.Mixer, 1)]
    [InlineData(TabularArchitecture.Mixer, 2)]
    [InlineData(TabularArchitecture.Transformer, 2)]
    public void BidirectionalMixersSeeLaterPositionsAndRefuseToDecode(TabularArchitecture architecture, int heads)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(12);
        using var mixer = TokenMixers.ForTabular(architecture, sequenceLength: 5, width: 8, heads);
        using var noGrad = no_grad();
        var x = randn(2, 5, 8);
        var changed = x.clone();
        changed[.., 4, ..] += 1.0;
        Assert.False(allclose(mixer.forward(x)[.., 0], mixer.forward(changed)[.., 0]), "position 0 ignores position 4");
        using var cache = new DecodingCache(5);
        Assert.Throws<InvalidOperationException>(() => ((ICausalTokenMixer)mixer).Prefill(x, cache));
    }
}
