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
    public static ITransformer Create(IHostEnvironment env, ITransformer model, DataViewSchema inputSchema,
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
        var replacement = new List<ITransformer>();
        void Add(ITransformer step)
        {
            replacement.Add(step);
            schema = step.GetOutputSchema(schema);
        }
        Add(new MixerOnnxInputTransformer(env, predictor.FeatureColumnName, predictor.SequenceLength, predictor.VocabularySize));
        var outputs = MixerOnnxOutputTransformer.OnnxOutputs(predictor.Task);
        using (var graph = new MemoryStream(TabularOnnxExporter.Export(predictor)))
        {
            Add(transforms.ApplyOnnxModel(outputs, [TabularOnnxExporter.InputName], graph, CheckGpu(gpuDeviceId, fallbackToCpu), fallbackToCpu)
                .Fit(new EmptyDataView(env, schema)));
        }
        Add(new MixerOnnxOutputTransformer(env, predictor.Task, predictor.ClassCount, predictor.LabelKeyValues));
        Add(transforms.DropColumns([TabularOnnxExporter.InputName, .. outputs]).Fit(new EmptyDataView(env, schema)));
        return new TransformerChain<ITransformer>([.. steps.Take(at), .. replacement, .. steps.Skip(at + 1)]);
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
