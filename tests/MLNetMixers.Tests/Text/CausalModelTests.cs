using MLNetMixers.Models;
using MLNetMixers.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Text;

/// <summary>Causality and incremental decoding of every language-model architecture, on real torch.</summary>
public class CausalModelTests
{
    public CausalModelTests() => set_num_threads(1);

    public static TheoryData<string> Kinds() => TextTestHelpers.ModelKinds();

    private static LanguageModel NewModel(string kind, int contextLength = 24)
    {
        var model = new LanguageModel(TextTestHelpers.Config(kind, contextLength));
        model.Initialize(seed: 7);
        model.eval();
        return model;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ChangingALaterTokenNeverChangesEarlierLogits(string kind)
    {
        using var model = NewModel(kind);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tokens = randint(0, 11, [2, 24], dtype: ScalarType.Int64, generator: new TorchSharp.torch.Generator(3));
        var baseline = model.forward(tokens);
        foreach (int changed in new[] { 1, 9, 23 })
        {
            var altered = tokens.clone();
            altered[.., changed] = (altered[.., changed] + 1) % 11;
            var logits = model.forward(altered);
            Assert.True(logits[.., ..changed].allclose(baseline[.., ..changed], rtol: 0, atol: 1e-5),
                        $"{kind}: logits before position {changed} changed");
            Assert.False(logits[.., changed].allclose(baseline[.., changed], rtol: 0, atol: 1e-5),
                         $"{kind}: the changed position itself should see its token");
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void IncrementalDecodingEqualsFullRecompute(string kind)
    {
        using var model = NewModel(kind);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tokens = randint(0, 11, [1, 24], dtype: ScalarType.Int64, generator: new TorchSharp.torch.Generator(5));
        var full = model.forward(tokens);
        var caches = model.NewCaches();
        try
        {
            var last = model.Prefill(tokens[.., ..7], caches);
            Assert.True(last.allclose(full[.., 6], rtol: 0, atol: 1e-4), $"{kind}: prefill differs");
            for (int i = 7; i < 24; i++)
            {
                var step = model.Step(tokens[.., i..(i + 1)], caches);
                Assert.True(step.allclose(full[.., i], rtol: 0, atol: 1e-4),
                            $"{kind}: step {i} differs by {(step - full[.., i]).abs().max().item<float>()}");
            }
            Assert.Throws<ArgumentException>(() => model.Step(tokens[.., ..1], caches));
        }
        finally
        {
            foreach (var cache in caches)
                cache.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void GenerationPastTheContextSlidesTheWindowExactlyAsNaiveRecomputeDoes(string kind)
    {
        using var model = NewModel(kind, contextLength: 16);
        using (no_grad())
            model.named_parameters().Single(p => p.name == "head.bias").parameter[0] = -100f; // never end of text: run past n_ctx
        var tokenizer = new CharacterTokenizer("abcdefghi");   // 11 ids with end of text and unknown
        var options = new TextGenerationOptions { MaxNewTokens = 40, Temperature = 1.5f, Seed = 11 };
        string prompt = "abcdefghiabcdefghiabc";                  // longer than n_ctx
        var incremental = TextGenerator.GenerateTokens(model, tokenizer, prompt, options, CPU, incremental: true, out var fastLogits, keepLogits: true);
        var naive = TextGenerator.GenerateTokens(model, tokenizer, prompt, options, CPU, incremental: false, out var slowLogits, keepLogits: true);
        Assert.Equal(naive, incremental);
        Assert.Equal(slowLogits.Count, fastLogits.Count);
        Assert.True(fastLogits.Count > 16, "the test must run past the context length");
        for (int s = 0; s < fastLogits.Count; s++)
            for (int v = 0; v < fastLogits[s].Length; v++)
                Assert.True(Math.Abs(fastLogits[s][v] - slowLogits[s][v]) < 1e-4, $"{kind}: step {s} logit {v}");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void BatchGenerationGivesEachSequenceWhatItGetsAlone(string kind)
    {
        using var model = NewModel(kind, contextLength: 16);
        using (no_grad())
            model.named_parameters().Single(p => p.name == "head.bias").parameter[0] = -3f; // end of text rare, not impossible
        var tokenizer = new CharacterTokenizer("abcdefghi");
        // Prompts of different lengths (one past n_ctx, one empty), own seeds, stops and lengths, one asking for nothing.
        string[] prompts = ["abc", "", "abcdefghiabcdefghiabc", "ab", "hhh", "abc", "i"];
        TextGenerationOptions[] options =
        [
            new() { MaxNewTokens = 40, Temperature = 1.5f, Seed = 1 },
            new() { MaxNewTokens = 25, Temperature = 1f, TopK = 4, Seed = 2 },
            new() { MaxNewTokens = 40, Temperature = 0 },
            new() { MaxNewTokens = 30, Temperature = 2f, Seed = 3, StopSequences = ["ab", "c"] },
            new() { MaxNewTokens = 0, Seed = 4 },
            new() { MaxNewTokens = 40, Temperature = 1.5f, Seed = 5 },
            new() { MaxNewTokens = 3, Temperature = 1f, TopP = 0.5f, Seed = 6 },
        ];
        var batched = TextGenerator.GenerateTokensBatch(model, tokenizer, prompts, options, CPU, out var batchLogits, keepLogits: true, batchSize: 4);
        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = TextGenerator.GenerateTokens(model, tokenizer, prompts[i], options[i], CPU, incremental: true, out var aloneLogits, keepLogits: true);
            Assert.Equal(alone, batched[i]);
            Assert.Equal(aloneLogits.Count, batchLogits[i].Count);
            for (int s = 0; s < aloneLogits.Count; s++)
                Assert.True(aloneLogits[s].Zip(batchLogits[i][s]).All(p => Math.Abs(p.First - p.Second) < 1e-4), $"{kind}: prompt {i} step {s}");
        }
        Assert.Empty(batched[4]);
        Assert.True(batched.Max(b => b.Count) + 3 > 16, "some sequence must run past the context length");
        Assert.NotEqual(batched[0], batched[5]); // same prompt, different seed
        var texts = TextGenerator.GenerateBatch(model, tokenizer, prompts, options, CPU, batchSize: 3);
        Assert.Equal(TextGenerator.Generate(model, tokenizer, prompts[3], options[3], CPU), texts[3]);
        Assert.DoesNotContain("ab", texts[3]);
        Assert.DoesNotContain("c", texts[3]);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TheSameSeedGivesTheSameWeightsWhateverTorchsGlobalGeneratorDoes(string kind)
    {
        manual_seed(1);
        using var first = NewModel(kind);
        manual_seed(2);
        using var second = NewModel(kind);
        var a = first.named_parameters().ToArray();
        var b = second.named_parameters().ToArray();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(a[i].parameter.eq(b[i].parameter).all().item<bool>(), $"{kind}: {a[i].name} differs");
    }

    [Fact]
    public void ToeplitzFftPathEqualsDensePathAndIsCausal()
    {
        manual_seed(1);
        using var single = new ToeplitzTokenMixing(300, 8, 1);
        using var heads = new ToeplitzTokenMixing(300, 8, 2);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = randn(2, 300, 8);
        foreach (var mixer in new[] { single, heads })
        {
            var dense = mixer.forward(x, useFft: false);
            var viaFft = mixer.forward(x, useFft: true);
            Assert.True(viaFft.allclose(dense, rtol: 0, atol: 1e-4), $"max diff {(viaFft - dense).abs().max().item<float>()}");
            var altered = x.clone();
            altered[.., 200] = 0;
            Assert.True(mixer.forward(altered, useFft: true)[.., ..200].allclose(viaFft[.., ..200], rtol: 0, atol: 1e-4));
        }
        // M[i,j] = v[i-j]: constant along diagonals, zero above.
        var m = single.DenseMatrix(5)[0];
        Assert.Equal(m[3, 1].item<float>(), m[4, 2].item<float>());
        Assert.Equal(0f, m[1, 3].item<float>());
    }
}
