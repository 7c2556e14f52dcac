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
    /// <param name="ctx">The model folder.</param>
    /// <param name="streamName">The stream <see cref="SaveModule"/> wrote.</param>
    /// <param name="module">The freshly built module.</param>
    /// <param name="renamed">For weights an earlier version saved under another name: the current name, or null when the name is current.</param>
    public static void LoadModule(this ModelLoadContext ctx, string streamName, torch.nn.Module module, Func<string, string?>? renamed = null)
    {
        if (!ctx.TryLoadBinaryStream(streamName, reader => Load(module, reader, renamed)))
            throw new FormatException($"The model file has no '{streamName}' stream: it was not written by this version of MLNetMixers or is damaged.");
    }

    /// <summary>TorchSharp's <c>Module.load</c> (an entry count, then name and tensor per entry), mapping old names to current ones.</summary>
    private static void Load(torch.nn.Module module, BinaryReader reader, Func<string, string?>? renamed)
    {
        if (renamed is null)
        {
            module.load(reader);
            return;
        }
        var state = module.state_dict();
        long entries = reader.Read7BitEncodedInt64();
        var loaded = new HashSet<string>();
        for (long i = 0; i < entries; i++)
        {
            string saved = reader.ReadString();
            string name = state.ContainsKey(saved) ? saved : renamed(saved) ?? saved;
            if (!state.TryGetValue(name, out var tensor))
                throw new FormatException($"The model file holds a weight '{saved}' this version of MLNetMixers does not know.");
            tensor.Load(reader);
            loaded.Add(name);
        }
        var missing = state.Keys.Where(k => !loaded.Contains(k)).ToArray();
        if (missing.Length > 0)
            throw new FormatException($"The model file lacks the weights {string.Join(", ", missing)}.");
    }
}
