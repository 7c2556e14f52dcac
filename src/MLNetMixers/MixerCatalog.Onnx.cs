using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Onnx;

namespace Microsoft.ML;

public static partial class MixerCatalog
{
    /// <summary>
    /// Writes the trained mixer inside <paramref name="model"/> (the mixer, MLP or transformer network of a binary,
    /// multiclass or regression model) as an ONNX graph of standard operators (opset 17).
    /// </summary>
    /// <remarks>
    /// Input <c>token_ids</c>: int64 [batch, T], each row's token ids (the <c>EncodeAsCharacters</c> keys minus 1). Outputs:
    /// <c>score</c>, and <c>probability</c> and <c>predicted_label</c> where the task has them (see
    /// <see cref="ConvertToOnnxScoring"/> for the ML.NET pipeline around it). The character encoding stays in .NET: it
    /// formats numbers and text as characters, which ONNX's operators cannot express. This is an explicit API rather than
    /// ML.NET's <c>ConvertToOnnx</c> because ML.NET's exporter converts whole pipelines, and every mixer pipeline starts
    /// with that encoding.
    /// </remarks>
    /// <param name="catalog">The model operations catalog.</param>
    /// <param name="model">A trained model: a chain holding one <see cref="MixerPredictionTransformer"/>, or the transformer itself.</param>
    /// <param name="stream">Where the ONNX model is written.</param>
    public static void ExportToOnnx(this ModelOperationsCatalog catalog, ITransformer model, Stream stream)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(model, nameof(model));
        Contracts.CheckValue(stream, nameof(stream));
        stream.Write(TabularOnnxExporter.Export(OnnxScoringPipeline.FindPredictor(model)));
    }

    /// <summary>
    /// Writes a trained language model as two ONNX graphs: <paramref name="prefill"/> runs a prompt and returns the
    /// logits and the decoding state; <paramref name="step"/> takes one token, its position and the state, and returns
    /// the next logits and the updated state (see <see cref="LanguageModelOnnxExporter"/> for the inputs and outputs).
    /// </summary>
    /// <param name="catalog">The model operations catalog.</param>
    /// <param name="model">A trained language model.</param>
    /// <param name="prefill">Where the prefill graph is written.</param>
    /// <param name="step">Where the one-token step graph is written.</param>
    public static void ExportToOnnx(this ModelOperationsCatalog catalog, MixerLanguageModelTransformer model, Stream prefill, Stream step)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(model, nameof(model));
        model.RequireCausal("be exported as prefill and step graphs");
        var (prefillGraph, stepGraph) = LanguageModelOnnxExporter.Export(model.Model);
        prefill.Write(prefillGraph);
        step.Write(stepGraph);
    }

    /// <summary>
    /// The same model scored by ONNX Runtime instead of TorchSharp: every step of <paramref name="model"/> is kept
    /// except each mixer network, which becomes <c>ApplyOnnxModel</c> over its exported graph, followed by the same
    /// prediction columns (Score, Probability, PredictedLabel: names, types and annotations). Save it with
    /// <c>mlContext.Model.Save</c>; loading and scoring that zip needs Microsoft.ML.OnnxRuntime (or
    /// Microsoft.ML.OnnxRuntime.Gpu.Linux) and no native libtorch.
    /// </summary>
    /// <param name="catalog">The model operations catalog.</param>
    /// <param name="model">A trained model whose chain holds one or more <see cref="MixerPredictionTransformer"/>s (an experiment's average).</param>
    /// <param name="inputSchema">The schema the model was trained on (as <c>mlContext.Model.Load</c> returns it).</param>
    /// <param name="gpuDeviceId">A CUDA device for ONNX Runtime (the application references Microsoft.ML.OnnxRuntime.Gpu.Linux);
    /// null scores on the CPU. A saved and loaded zip takes the device from <see cref="MLContext.GpuDeviceId"/> instead.</param>
    /// <param name="fallbackToCpu">Scores on the CPU when the GPU cannot be used, instead of failing.</param>
    public static ITransformer ConvertToOnnxScoring(this ModelOperationsCatalog catalog, ITransformer model, DataViewSchema inputSchema,
                                                    int? gpuDeviceId = null, bool fallbackToCpu = false)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(model, nameof(model));
        Contracts.CheckValue(inputSchema, nameof(inputSchema));
        return OnnxScoringPipeline.Create(CatalogUtils.GetEnvironment(catalog), model, inputSchema, gpuDeviceId, fallbackToCpu);
    }
}
