using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace MLNetMixers.Onnx;

/// <summary>
/// Builds the ONNX scoring pipeline of a trained tabular model: the same managed steps before and after the network,
/// with the network itself (each, where the model averages several) replaced by ML.NET's ONNX Runtime transformer:
///   ... EncodeAsCharacters ... -> token ids (keys - 1, Int64) -> ApplyOnnxModel -> prediction columns -> drop the ONNX columns
/// Every step is managed ML.NET code or ONNX Runtime, so loading and scoring never touch libtorch.
/// </summary>
internal static class OnnxScoringPipeline
{
    public static ITransformer Create(IHostEnvironment env, ITransformer model, DataViewSchema inputSchema,
                                      int? gpuDeviceId, bool fallbackToCpu)
    {
        var steps = Flatten(model).ToList();
        FindPredictors(steps);
        foreach (var step in steps)
        {
            if (step is MixerLanguageModelTransformer or MixerExplainTransformer)
                throw new NotSupportedException($"The pipeline holds a TorchSharp step other than a mixer prediction model ({step.GetType().Name}); an ONNX scoring pipeline replaces only mixer prediction models.");
        }
        int? gpu = CheckGpu(gpuDeviceId, fallbackToCpu);

        // Each mixer network (one, or several in an experiment's average) becomes its ONNX graph in place.
        var schema = inputSchema;
        var transforms = new TransformsCatalog(env);
        var result = new List<ITransformer>();
        void Add(ITransformer step)
        {
            result.Add(step);
            schema = step.GetOutputSchema(schema);
        }
        foreach (var step in steps)
        {
            if (step is not MixerPredictionTransformer predictor)
            {
                Add(step);
                continue;
            }
            predictor.CheckFeatureColumn(schema);
            Add(new MixerOnnxInputTransformer(env, predictor.FeatureColumnName, predictor.SequenceLength, predictor.VocabularySize));
            var outputs = MixerOnnxOutputTransformer.OnnxOutputs(predictor.Task);
            using (var graph = new MemoryStream(TabularOnnxExporter.Export(predictor)))
            {
                Add(transforms.ApplyOnnxModel(outputs, [TabularOnnxExporter.InputName], graph, gpu, fallbackToCpu)
                    .Fit(new EmptyDataView(env, schema)));
            }
            Add(new MixerOnnxOutputTransformer(env, predictor.Task, predictor.ClassCount, predictor.LabelKeyValues));
            Add(transforms.DropColumns([TabularOnnxExporter.InputName, .. outputs]).Fit(new EmptyDataView(env, schema)));
        }
        return new TransformerChain<ITransformer>([.. result]);
    }

    /// <summary>
    /// The GPU to ask ONNX Runtime for: ML.NET's fallback catches ONNX Runtime's errors but not the missing CUDA entry
    /// point of its CPU build, so without a CUDA provider the request is dropped (fallback) or refused by name here.
    /// </summary>
    private static int? CheckGpu(int? gpuDeviceId, bool fallbackToCpu)
    {
        if (gpuDeviceId is null || Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
            return gpuDeviceId;
        if (fallbackToCpu)
            return null;
        throw new InvalidOperationException($"GPU {gpuDeviceId} was asked for, but this application's ONNX Runtime has no CUDA provider: reference "
            + "Microsoft.ML.OnnxRuntime.Gpu.Linux instead of Microsoft.ML.OnnxRuntime, or allow fallbackToCpu.");
    }

    /// <summary>The one trained mixer inside <paramref name="model"/> (a chain, possibly nested, or the model itself).</summary>
    public static MixerPredictionTransformer FindPredictor(ITransformer model)
    {
        var found = FindPredictors(Flatten(model).ToList());
        return found.Count == 1 ? found[0]
            : throw new ArgumentException($"The model holds {found.Count} mixer networks, as an experiment's average of its fold networks or its ensemble does; "
                                          + "an ONNX graph holds one: the scoring zip, ConvertToOnnxScoring or the CLI's model-onnx.zip, converts them all.", "model");
    }

    private static List<MixerPredictionTransformer> FindPredictors(List<ITransformer> steps)
    {
        var found = steps.OfType<MixerPredictionTransformer>().ToList();
        return found.Count > 0 ? found
            : throw new ArgumentException("The model holds no mixer prediction model (MixerPredictionTransformer); train one with the mixer trainers first.", "model");
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer model)
        => model is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [model];
}
