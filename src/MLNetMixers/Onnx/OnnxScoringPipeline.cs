using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace MLNetMixers.Onnx;

/// <summary>
/// Builds the ONNX scoring pipeline of a trained tabular model: the same managed steps before and after the network,
/// with the network itself replaced by ML.NET's ONNX Runtime transformer:
///   ... EncodeAsCharacters ... -> token ids (keys - 1, Int64) -> ApplyOnnxModel -> prediction columns -> drop the ONNX columns
/// Every step is managed ML.NET code or ONNX Runtime, so loading and scoring never touch libtorch.
/// </summary>
internal static class OnnxScoringPipeline
{
    public static ITransformer Create(IHostEnvironment env, ModelOperationsCatalog catalog, ITransformer model, DataViewSchema inputSchema,
                                      int? gpuDeviceId, bool fallbackToCpu)
    {
        var steps = Flatten(model).ToList();
        int at = FindPredictor(steps);
        var predictor = (MixerPredictionTransformer)steps[at];
        foreach (var step in steps.Where((_, i) => i != at))
        {
            if (step is MixerPredictionTransformer or MixerLanguageModelTransformer or MixerExplainTransformer)
                throw new NotSupportedException($"The pipeline holds a second TorchSharp step ({step.GetType().Name}); an ONNX scoring pipeline replaces exactly one mixer model.");
        }

        var schema = inputSchema;
        foreach (var step in steps.Take(at))
            schema = step.GetOutputSchema(schema);
        predictor.CheckFeatureColumn(schema);

        var transforms = new TransformsCatalog(env);
        string onnxPath = Path.Combine(Path.GetTempPath(), $"mlnetmixers-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(onnxPath, TabularOnnxExporter.Export(predictor));
            var replacement = new List<ITransformer>();
            ITransformer Add(ITransformer step)
            {
                replacement.Add(step);
                schema = step.GetOutputSchema(schema);
                return step;
            }
            Add(new MixerOnnxInputTransformer(env, predictor.FeatureColumnName, predictor.SequenceLength, predictor.VocabularySize));
            var outputs = MixerOnnxOutputTransformer.OnnxOutputs(predictor.Task);
            Add(transforms.ApplyOnnxModel(outputs, [TabularOnnxExporter.InputName], onnxPath, gpuDeviceId, fallbackToCpu).Fit(new EmptyDataView(env, schema)));
            Add(new MixerOnnxOutputTransformer(env, predictor.Task, predictor.ClassCount, predictor.LabelKeyValues));
            Add(transforms.DropColumns([TabularOnnxExporter.InputName, .. outputs]).Fit(new EmptyDataView(env, schema)));

            var chain = new TransformerChain<ITransformer>([.. steps.Take(at), .. replacement, .. steps.Skip(at + 1)]);
            // ONNX Runtime's transformer reads the model file again when saved; one save and load makes the result
            // self-contained (it keeps its own copy of the graph), so the temporary file can go now.
            using var zip = new MemoryStream();
            catalog.Save(chain, inputSchema, zip);
            zip.Position = 0;
            return catalog.Load(zip, out _);
        }
        finally
        {
            File.Delete(onnxPath);
        }
    }

    /// <summary>The trained mixer inside <paramref name="model"/> (a chain, possibly nested, or the model itself).</summary>
    public static MixerPredictionTransformer FindPredictor(ITransformer model)
    {
        var steps = Flatten(model).ToList();
        return (MixerPredictionTransformer)steps[FindPredictor(steps)];
    }

    private static int FindPredictor(List<ITransformer> steps)
    {
        var found = steps.Select((s, i) => (s, i)).Where(p => p.s is MixerPredictionTransformer).ToList();
        return found.Count switch
        {
            1 => found[0].i,
            0 => throw new ArgumentException("The model holds no mixer prediction model (MixerPredictionTransformer); train one with the mixer trainers first.", "model"),
            _ => throw new ArgumentException($"The model holds {found.Count} mixer prediction models; export them one at a time.", "model"),
        };
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer model)
        => model is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [model];
}
