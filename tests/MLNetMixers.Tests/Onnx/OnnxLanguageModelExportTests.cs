using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetMixers.Models;
using MLNetMixers.Onnx;
using MLNetMixers.Tests.Text;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Onnx;

/// <summary>
/// The exported prefill and step graphs of every language-model architecture give TorchSharp's logits (1e-4) and
/// continue a prompt with the same greedy tokens as <see cref="LanguageModel.Prefill"/> and <see cref="LanguageModel.Step"/>.
/// </summary>
public class OnnxLanguageModelExportTests
{
    private const int ContextLength = 24;
    private const int Vocabulary = 11;

    [Theory]
    [MemberData(nameof(TextTestHelpers.ModelKinds), MemberType = typeof(TextTestHelpers))]
    [InlineData("llama")]
    public void StepGraphContinuesAPromptWithTorchSharpsGreedyTokens(string kind)
    {
        using var model = new LanguageModel(TextTestHelpers.Config(kind, ContextLength, Vocabulary));
        // An untrained Llama has no position embedding, so greedy decoding falls into a fixed point for most seeds
        // (3 among them: one token repeated); seed 5 cycles through four tokens and keeps the step graph's inputs varied.
        model.Initialize(seed: kind == "llama" ? 5 : 3);
        MoveOffInitialisation(model);
        model.eval();
        var (prefillBytes, stepBytes) = LanguageModelOnnxExporter.Export(model);
        using var prefill = new InferenceSession(prefillBytes);
        using var step = new InferenceSession(stepBytes);

        long[] prompt = [1, 4, 1, 5, 9, 2, 6];
        int newTokens = ContextLength - prompt.Length;

        // TorchSharp: prefill, then greedy steps on the decoding caches.
        var expected = new List<long>();
        var expectedLogits = new List<float[]>();
        using (var inference = inference_mode())
        {
            var caches = model.NewCaches();
            try
            {
                using var logits0 = model.Prefill(tensor(prompt, [1, prompt.Length]), caches);
                float[] logits = logits0.data<float>().ToArray();
                for (int i = 0; i < newTokens; i++)
                {
                    expectedLogits.Add(logits);
                    long next = ArgMax(logits);
                    expected.Add(next);
                    if (i + 1 < newTokens)
                    {
                        using var stepped = model.Step(tensor(new[] { next }, [1, 1]), caches);
                        logits = stepped.data<float>().ToArray();
                    }
                }
            }
            finally
            {
                foreach (var cache in caches)
                    cache.Dispose();
            }
        }

        // ONNX Runtime: the prefill graph, then the step graph fed its own state.
        var actual = new List<long>();
        using var prefillResults = prefill.Run([NamedOnnxValue.CreateFromTensor("tokens", new DenseTensor<long>(prompt, [1, prompt.Length]))]);
        var allLogits = prefillResults.First(r => r.Name == "logits").AsTensor<float>();
        Assert.Equal([1, prompt.Length, Vocabulary], allLogits.Dimensions.ToArray());
        float[] onnxLogits = Enumerable.Range(0, Vocabulary).Select(v => allLogits[0, prompt.Length - 1, v]).ToArray();
        var state = prefillResults.Where(r => r.Name != "logits")
            .ToDictionary(r => r.Name, r => new DenseTensor<float>(r.AsTensor<float>().ToArray(), r.AsTensor<float>().Dimensions.ToArray()));
        Assert.NotEmpty(state);
        for (int i = 0; i < newTokens; i++)
        {
            AssertClose(expectedLogits[i], onnxLogits, $"token {i}");
            long next = ArgMax(onnxLogits);
            actual.Add(next);
            if (i + 1 == newTokens)
                break;
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("token", new DenseTensor<long>(new[] { next }, [1, 1])),
                NamedOnnxValue.CreateFromTensor("position", new DenseTensor<long>(new[] { (long)(prompt.Length + i) }, [1])),
            };
            inputs.AddRange(state.Select(s => NamedOnnxValue.CreateFromTensor(s.Key, s.Value)));
            using var results = step.Run(inputs);
            onnxLogits = results.First(r => r.Name == "logits").AsTensor<float>().ToArray();
            foreach (var name in state.Keys.ToList())
            {
                var updated = results.First(r => r.Name == name + "_out").AsTensor<float>();
                state[name] = new DenseTensor<float>(updated.ToArray(), updated.Dimensions.ToArray());
            }
        }
        Assert.Equal(expected, actual);
        Assert.True(expected.Distinct().Count() > 1, "The continuation should not repeat one token (a degenerate model proves little).");
    }

    [Theory]
    [MemberData(nameof(TextTestHelpers.ModelKinds), MemberType = typeof(TextTestHelpers))]
    [InlineData("llama")]
    public void PrefillGraphGivesTheFullForwardsLogitsAtEveryLength(string kind)
    {
        using var model = new LanguageModel(TextTestHelpers.Config(kind, ContextLength, Vocabulary));
        model.Initialize(seed: 4);
        MoveOffInitialisation(model);
        model.eval();
        using var prefill = new InferenceSession(LanguageModelOnnxExporter.Export(model).Prefill);
        var tokens = Enumerable.Range(0, 2 * ContextLength).Select(i => (long)(i * 7 % Vocabulary)).ToArray();
        foreach (int length in new[] { 1, 5, ContextLength })
        {
            var batch = tokens.Take(2 * length).ToArray(); // two rows
            float[] expected;
            using (var inference = inference_mode())
            using (var logits = model.forward(tensor(batch, [2, length])))
                expected = logits.data<float>().ToArray();
            using var results = prefill.Run([NamedOnnxValue.CreateFromTensor("tokens", new DenseTensor<long>(batch, [2, length]))]);
            AssertClose(expected, results.First(r => r.Name == "logits").AsTensor<float>().ToArray(), $"length {length}");
        }
    }

    /// <summary>
    /// Token-mixing biases start at zero, the structured recurrent mixer's decays and every norm's gain at 1: random values
    /// of a trained model's kind (biases around 0, decays in the clipped range [0.9, 1], some above it, gains around 1)
    /// keep the export's handling of them under test.
    /// </summary>
    internal static void MoveOffInitialisation(LanguageModel model)
    {
        using var noGrad = no_grad();
        using var generator = new Generator(11);
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.EndsWith("tokenMixing.bias", StringComparison.Ordinal))
                parameter.normal_(0, 0.1, generator);
            else if (name.EndsWith("tokenMixing.decay", StringComparison.Ordinal))
                parameter.uniform_(0.85, 1.02, generator);
            else if (name.EndsWith("Norm.weight", StringComparison.Ordinal))
                parameter.normal_(1, 0.1, generator);
        }
    }

    private static long ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
                best = i;
        }
        return best;
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * Math.Max(1, Math.Abs(expected[i])), $"{what}, logit {i}: TorchSharp {expected[i]}, ONNX Runtime {actual[i]}.");
    }
}
