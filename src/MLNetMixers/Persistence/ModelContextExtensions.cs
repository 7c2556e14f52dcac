using Microsoft.ML;
using TorchSharp;

namespace MLNetMixers.Persistence;

/// <summary>
/// Stores TorchSharp modules inside ML.NET model contexts, so a model's weights travel in the same
/// zip as the rest of the pipeline (the route ML.NET's own TorchSharp trainers take).
/// </summary>
internal static class ModelContextExtensions
{
    /// <summary>Writes the module's parameters and buffers as a named binary stream of the model folder.</summary>
    public static void SaveModule(this ModelSaveContext ctx, string streamName, torch.nn.Module module)
        => ctx.SaveBinaryStream(streamName, writer => module.save(writer));

    /// <summary>Reads weights written by <see cref="SaveModule"/> into a module of the same shape.</summary>
    public static void LoadModule(this ModelLoadContext ctx, string streamName, torch.nn.Module module)
    {
        if (!ctx.TryLoadBinaryStream(streamName, reader => module.load(reader)))
            throw new FormatException($"The model file has no '{streamName}' stream: it was not written by this version of MLNetMixers or is damaged.");
    }
}
