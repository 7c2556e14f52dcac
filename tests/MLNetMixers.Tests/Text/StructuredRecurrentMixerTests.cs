using MLNetMixers.Models;
using MLNetMixers.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Text;

/// <summary>The structured recurrent mixer: its two forms agree, its state does not grow, and it is the paper's equations.</summary>
public class StructuredRecurrentMixerTests
{
    public StructuredRecurrentMixerTests() => set_num_threads(1);

    /// <summary>An SRM with decays inside, below and above the clip range, and nonzero biases, so every term matters.</summary>
    private static LanguageModel NewModel(int contextLength, int width = 16, int heads = 4, int vocabulary = 11)
    {
        var model = new LanguageModel(new LanguageModelConfig(MixerLanguageModelArchitecture.StructuredRecurrentMixer, vocabulary, contextLength, width, 2, heads, 2, 0));
        model.Initialize(seed: 3);
        using (no_grad())
        {
            var generator = new Generator(9);
            foreach (var (name, p) in model.named_parameters())
            {
                if (name.EndsWith(".decay"))
                    p.copy_(tensor(new[] { 0.8f, 0.93f, 0.97f, 1.3f }[..heads]));
                else if (name.EndsWith("tokenMixing.bias"))
                    p.normal_(0, 0.1, generator);
                else if (name == "head.bias")
                    p[0] = -100f;   // never end of text, so greedy decoding runs its full length
            }
        }
        model.eval();
        return model;
    }

    [Theory]
    [InlineData(40)]     // S < 512: λ = γ (the paper's S//512 would be 0)
    [InlineData(1100)]   // S > 512: λ = γ^(512/S)
    public void ParallelAndRecurrentFormsGiveTheSameLogitsAtEveryPositionAndTheSameGreedyTokens(int contextLength)
    {
        using var model = NewModel(contextLength);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int t = Math.Min(contextLength, 300);
        var tokens = randint(0, 11, [2, t], dtype: ScalarType.Int64, generator: new Generator(5));
        var parallel = model.forward(tokens);
        Assert.False(parallel.isnan().any().item<bool>());
        var caches = model.NewCaches();
        try
        {
            // Prefill one token, then the recurrence for every later position.
            Assert.True(model.Prefill(tokens[.., ..1], caches).allclose(parallel[.., 0], rtol: 0, atol: 1e-4));
            float worst = 0;
            for (int i = 1; i < t; i++)
                worst = Math.Max(worst, (model.Step(tokens[.., i..(i + 1)], caches) - parallel[.., i]).abs().max().item<float>());
            Assert.True(worst < 1e-4, $"largest difference between the recurrent and parallel logits: {worst}");
        }
        finally
        {
            foreach (var cache in caches)
                cache.Dispose();
        }

        var tokenizer = new CharacterTokenizer("abcdefghi");
        var greedy = new TextGenerationOptions { MaxNewTokens = Math.Min(contextLength - 5, 60), Temperature = 0 };
        var recurrent = TextGenerator.GenerateTokens(model, tokenizer, "abc", greedy, CPU, incremental: true, out var fast, keepLogits: true);
        var reference = TextGenerator.GenerateTokens(model, tokenizer, "abc", greedy, CPU, incremental: false, out var slow, keepLogits: true);
        Assert.Equal(reference, recurrent);
        Assert.True(recurrent.Count > 5, "greedy decoding should run more than a few tokens");
        for (int s = 0; s < fast.Count; s++)
            Assert.True(fast[s].Zip(slow[s]).All(p => Math.Abs(p.First - p.Second) < 1e-4), $"step {s}");
    }

    [Fact]
    public void TheMixerIsThePapersColumnAndRowRepeatEquations()
    {
        const int s = 20, width = 8, heads = 4, c = width / heads;
        using var mixer = new StructuredRecurrentTokenMixing(s, width, heads);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var p = mixer.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        p["decay"].copy_(tensor(new[] { 0.95f, 0.5f, 0.97f, 1.2f }));
        p["bias"].normal_(0, 0.3);
        var x = randn(1, s, width);
        var y = mixer.forward(x);

        // The definition, in double loops, from the heads' inputs u = W_in x + b_in to the output projection.
        var u = (matmul(x, p["inProjection.weight"].t()) + p["inProjection.bias"])[0].data<float>().ToArray();   // [s, width]
        var w = p["weight"].data<float>().ToArray();
        var b = p["bias"].data<float>().ToArray();
        var gammas = new[] { 0.95, 0.9, 0.97, 1.0 };                  // clipped to [0.9, 1]; λ = γ because S < 512
        var mixed = new float[s * width];
        for (int h = 0; h < heads; h++)
        {
            bool column = h < mixer.ColumnHeads;
            for (int t = 0; t < s; t++)
                for (int ch = 0; ch < c; ch++)
                {
                    double sum = 0;
                    for (int i = 0; i <= t; i++)
                        sum += (column ? w[h * s + t] : w[h * s + i]) * Math.Pow(gammas[h], t - i) * u[i * width + h * c + ch];
                    mixed[t * width + h * c + ch] = (float)(sum + b[h * s + t]);
                }
        }
        var expected = matmul(tensor(mixed, [s, width]), p["outProjection.weight"].t()) + p["outProjection.bias"];
        Assert.Equal(2, mixer.ColumnHeads);
        Assert.True(y[0].allclose(expected, rtol: 0, atol: 1e-4), $"max diff {(y[0] - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void TheRecurrentStateIsTheSameSizeAfter10And1000GeneratedTokens()
    {
        const int width = 16, depth = 2;
        var tokenizer = new CharacterTokenizer("abcdefghi");
        long Measure(MixerLanguageModelArchitecture architecture, int afterTokens, Func<DecodingCache, long> bytes)
        {
            using var model = new LanguageModel(new LanguageModelConfig(architecture, tokenizer.VocabularySize, 1024, width, depth, 4, 2, 0));
            model.Initialize(seed: 1);
            using (no_grad())
                model.named_parameters().Single(p => p.name == "head.bias").parameter[tokenizer.EndOfText] = -100f;
            model.eval();
            long measured = -1;
            int steps = 0;
            TextGenerator.GenerateTokensBatch(model, tokenizer, ["ab"], [new TextGenerationOptions { MaxNewTokens = afterTokens, Temperature = 1f, Seed = 4 }],
                                              CPU, out _, afterStep: caches =>
                                              {
                                                  steps++;
                                                  measured = caches.Sum(bytes);
                                              });
            Assert.Equal(afterTokens - 1, steps);   // the last token is sampled, never fed
            return measured;
        }

        long after10 = Measure(MixerLanguageModelArchitecture.StructuredRecurrentMixer, 10, c => c.AllocatedBytes);
        long after1000 = Measure(MixerLanguageModelArchitecture.StructuredRecurrentMixer, 1000, c => c.AllocatedBytes);
        Assert.Equal(after10, after1000);
        Assert.Equal(depth * width * sizeof(float), after1000);   // one vector per head per layer: N·d floats

        // The same measure sees a transformer's key/value cache grow with the text.
        long kv10 = Measure(MixerLanguageModelArchitecture.Transformer, 10, c => c.BytesInUse);
        long kv1000 = Measure(MixerLanguageModelArchitecture.Transformer, 1000, c => c.BytesInUse);
        Assert.True(kv1000 > 50 * kv10, $"{kv10} -> {kv1000} bytes");
    }

    [Fact]
    public void TheDecayIsClippedAndHasAGradientInsideTheClipRange()
    {
        using var mixer = new StructuredRecurrentTokenMixing(16, 8, 2);
        var decay = mixer.named_parameters().Single(p => p.name == "decay").parameter;
        using (no_grad())
            decay.copy_(tensor(new[] { 0.95f, 1.5f }));
        var x = randn(2, 16, 8);
        mixer.forward(x).pow(2).sum().backward();
        var grad = decay.grad!.data<float>().ToArray();
        Assert.NotEqual(0f, grad[0]);
        Assert.Equal(0f, grad[1]);   // above the bound: clipped to 1, no gradient (the paper's pitfall)
        var m = mixer.Matrices(4);
        Assert.Equal(0f, m[0, 1, 2].item<float>());   // causal
    }
}
