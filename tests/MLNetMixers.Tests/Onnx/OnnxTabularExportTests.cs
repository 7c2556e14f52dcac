using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MLNetMixers.Onnx;
using MLNetMixers.Tests.Trainers;

namespace MLNetMixers.Tests.Onnx;

/// <summary>
/// ONNX Runtime scores the exported tabular models as TorchSharp does (within 1e-4), for every task and architecture,
/// through the ONNX scoring pipeline saved and loaded as an ordinary ML.NET model zip.
/// </summary>
public class OnnxTabularExportTests
{
    private const double Tolerance = 1e-4;

    /// <summary>The last value is MaxMixedTokens: small ones group adjacent positions (the wide-table path) on these narrow tables.</summary>
    public static TheoryData<string, TabularArchitecture, int, bool, int> Cases() => new()
    {
        { "binary", TabularArchitecture.Mixer, 1, true, 512 },
        { "binary", TabularArchitecture.Mlp, 1, true, 512 },
        { "binary", TabularArchitecture.Transformer, 2, false, 512 },
        { "multiclass", TabularArchitecture.Mixer, 2, true, 512 },
        { "multiclass", TabularArchitecture.Transformer, 2, true, 512 },
        { "regression", TabularArchitecture.Mixer, 1, false, 512 },
        { "regression", TabularArchitecture.Mlp, 1, false, 512 },
        { "binary", TabularArchitecture.Mixer, 1, true, 3 },            // 3 positions per token, the last one padded
        { "regression", TabularArchitecture.Transformer, 2, false, 16 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void OnnxScoringZipGivesTorchSharpsPredictions(string task, TabularArchitecture architecture, int heads, bool valueTokens, int maxMixedTokens)
    {
        var ml = new MLContext(seed: 1);
        var (data, model) = Train(ml, task, architecture, heads, valueTokens, maxMixedTokens);
        var predictor = Flatten(model).OfType<MixerPredictionTransformer>().Single();
        Assert.Equal(maxMixedTokens < 100 && architecture != TabularArchitecture.Mlp, predictor.Shape.PositionsPerToken > 1);
        var expected = ml.Data.TakeRows(model.Transform(data), 120);

        var onnx = ml.Model.ConvertToOnnxScoring(model, data.Schema);
        string path = Path.Combine(TestData.NewTempFolder(), "model.onnx.zip");
        ml.Model.Save(onnx, data.Schema, path);
        var fresh = new MLContext(seed: 5);
        var loaded = fresh.Model.Load(path, out var inputSchema);
        Assert.DoesNotContain(Flatten(loaded), t => t is MixerPredictionTransformer);
        Assert.Equal(data.Schema.Select(c => c.Name), inputSchema.Select(c => c.Name));
        var actual = loaded.Transform(fresh.Data.TakeRows(data, 120));

        foreach (var name in new[] { "Score", "Probability", "PredictedLabel" })
        {
            var want = expected.Schema.GetColumnOrNull(name);
            var got = actual.Schema.GetColumnOrNull(name);
            Assert.Equal(want.HasValue, got.HasValue);
            if (want is null)
                continue;
            Assert.Equal(want.Value.Type, got!.Value.Type);
            Assert.Equal(want.Value.Annotations.Schema.Select(a => a.Name), got.Value.Annotations.Schema.Select(a => a.Name));
        }
        var (wantScores, wantLabels) = Read(expected);
        var (gotScores, gotLabels) = Read(actual);
        Assert.Equal(120, wantScores.Count);
        Assert.Equal(wantScores.Count, gotScores.Count);
        for (int i = 0; i < wantScores.Count; i++)
        {
            for (int k = 0; k < wantScores[i].Length; k++)
                Assert.True(Math.Abs(wantScores[i][k] - gotScores[i][k]) <= Tolerance * Math.Max(1, Math.Abs(wantScores[i][k])),
                    $"Row {i}, score {k}: TorchSharp {wantScores[i][k]}, ONNX Runtime {gotScores[i][k]}.");
        }
        // A label may flip only where the scores sit at the decision boundary within the tolerance.
        int differing = wantLabels.Zip(gotLabels).Count(p => p.First != p.Second);
        Assert.True(differing == 0, $"{differing} predicted labels differ.");
        Assert.True(wantScores.Select(s => s[0]).Distinct().Count() > 10, "The model should give varied scores.");
    }

    [Fact]
    public void ExportedGraphRunsInOnnxRuntimeAndDeclaresItsInterface()
    {
        var ml = new MLContext(seed: 1);
        var (data, model) = Train(ml, "binary", TabularArchitecture.Mixer, 1, true);
        using var stream = new MemoryStream();
        ml.Model.ExportToOnnx(model, stream);
        using var session = new InferenceSession(stream.ToArray());
        Assert.Equal([TabularOnnxExporter.InputName], session.InputMetadata.Keys);
        Assert.Equal(["score", "probability", "predicted_label"], session.OutputMetadata.Keys);
        Assert.Equal("tabular", session.ModelMetadata.CustomMetadataMap["mlnetmixers.kind"]);
        var predictor = (MixerPredictionTransformer)model.LastTransformer;
        Assert.Equal(predictor.SequenceLength, session.InputMetadata[TabularOnnxExporter.InputName].Dimensions[1]);
    }

    [Fact]
    public void ConvertToOnnxScoringNamesAModelWithoutAMixer()
    {
        var ml = new MLContext(seed: 1);
        var data = TrainerData.Diabetes(ml);
        var encoder = ml.Transforms.EncodeAsCharacters("Features", TrainerData.DiabetesFeatures).Fit(data);
        var e = Assert.Throws<ArgumentException>(() => ml.Model.ConvertToOnnxScoring(encoder, data.Schema));
        Assert.Contains("no mixer prediction model", e.Message);
    }

    internal static (IDataView Data, TransformerChain<ITransformer> Model) Train(MLContext ml, string task, TabularArchitecture architecture, int heads, bool valueTokens,
        int maxMixedTokens = 512)
    {
        T Small<T>(T options) where T : MixerTrainerOptions
        {
            SmallNetwork.Configure(options, epochs: 2);
            options.MaxMixedTokens = maxMixedTokens;
            options.Architecture = architecture;
            options.Heads = heads;
            return options;
        }
        CharacterEncodingOptions Encoding(string[] columns) => new() { InputColumnNames = columns, NumberValueTokens = valueTokens };
        switch (task)
        {
            case "binary":
            {
                var data = TrainerData.Diabetes(ml);
                var pipeline = ml.Transforms.EncodeAsCharacters(Encoding(TrainerData.DiabetesFeatures))
                    .Append<ITransformer>(ml.BinaryClassification.Trainers.Mixer(Small(new MixerBinaryTrainer.Options())));
                return (data, pipeline.Fit(data));
            }
            case "multiclass":
            {
                var data = TrainerData.Penguins(ml);
                var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "species")
                    .Append<ITransformer>(ml.Transforms.EncodeAsCharacters(Encoding(TrainerData.PenguinFeatures)))
                    .Append<ITransformer>(ml.MulticlassClassification.Trainers.Mixer(Small(new MixerMulticlassTrainer.Options())))
                    .Append<ITransformer>(ml.Transforms.Conversion.MapKeyToValue("PredictedSpecies", "PredictedLabel"));
                return (data, pipeline.Fit(data));
            }
            default:
            {
                var data = TrainerData.Concrete(ml);
                var pipeline = ml.Transforms.EncodeAsCharacters(Encoding(TrainerData.ConcreteFeatures))
                    .Append<ITransformer>(ml.Regression.Trainers.Mixer(Small(new MixerRegressionTrainer.Options())));
                return (data, pipeline.Fit(data));
            }
        }
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer t) => t is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [t];

    /// <summary>Each row's scores (Score, then Probability where present) and its predicted label as text.</summary>
    private static (List<float[]> Scores, List<string> Labels) Read(IDataView view)
    {
        var scores = new List<float[]>();
        var labels = new List<string>();
        var score = view.Schema["Score"];
        var probability = view.Schema.GetColumnOrNull("Probability");
        var label = view.Schema.GetColumnOrNull("PredictedLabel");
        using var cursor = view.GetRowCursor(view.Schema);
        var getScore = score.Type is VectorDataViewType ? null : cursor.GetGetter<float>(score);
        var getScores = score.Type is VectorDataViewType ? cursor.GetGetter<VBuffer<float>>(score) : null;
        var getProbability = probability is null ? null : cursor.GetGetter<float>(probability.Value);
        Func<string> readLabel = label?.Type switch
        {
            BooleanDataViewType => Reader<bool>(cursor, label.Value),
            KeyDataViewType => Reader<uint>(cursor, label.Value),
            _ => () => "",
        };
        while (cursor.MoveNext())
        {
            var row = new List<float>();
            if (getScore is not null)
            {
                float s = 0;
                getScore(ref s);
                row.Add(s);
            }
            else
            {
                VBuffer<float> v = default;
                getScores!(ref v);
                row.AddRange(v.DenseValues());
            }
            if (getProbability is not null)
            {
                float p = 0;
                getProbability(ref p);
                row.Add(p);
            }
            scores.Add([.. row]);
            labels.Add(readLabel());
        }
        return (scores, labels);
    }

    private static Func<string> Reader<T>(DataViewRowCursor cursor, DataViewSchema.Column column)
    {
        var get = cursor.GetGetter<T>(column);
        return () =>
        {
            T value = default!;
            get(ref value);
            return value!.ToString()!;
        };
    }
}

/// <summary>The CUDA option reaches ONNX Runtime; this machine's CPU build has no CUDA provider, so only the CPU path can score here.</summary>
public class OnnxGpuOptionTests
{
    [Fact]
    public void GpuRequestIsRefusedByNameWithoutCudaAndFallsBackToTheCpuWhenAllowed()
    {
        // The test project references ONNX Runtime's CPU build (Microsoft.ML.OnnxRuntime), which has no CUDA provider.
        Assert.DoesNotContain("CUDAExecutionProvider", Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders());
        var ml = new MLContext(seed: 1);
        var (data, model) = OnnxTabularExportTests.Train(ml, "binary", TabularArchitecture.Mlp, 1, true);
        var rows = ml.Data.TakeRows(data, 20);
        var cpu = ml.Model.ConvertToOnnxScoring(model, data.Schema);
        var expected = cpu.Transform(rows).GetColumn<float>("Score").ToArray();

        var e = Assert.Throws<InvalidOperationException>(() => ml.Model.ConvertToOnnxScoring(model, data.Schema, gpuDeviceId: 0, fallbackToCpu: false));
        Assert.Contains("no CUDA provider", e.Message);
        var fallback = ml.Model.ConvertToOnnxScoring(model, data.Schema, gpuDeviceId: 0, fallbackToCpu: true);
        Assert.Equal(expected, fallback.Transform(rows).GetColumn<float>("Score").ToArray());

        // A saved zip takes the device from MLContext.GpuDeviceId when it is loaded: the request reaches ONNX Runtime.
        string path = Path.Combine(TestData.NewTempFolder(), "model.onnx.zip");
        ml.Model.Save(cpu, data.Schema, path);
        var strict = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false };
        Assert.ThrowsAny<Exception>(() => strict.Model.Load(path, out _));
        Assert.Equal(expected, new MLContext(seed: 1).Model.Load(path, out _).Transform(rows).GetColumn<float>("Score").ToArray());
    }
}
