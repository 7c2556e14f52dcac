using Microsoft.ML;

namespace MLNetMixers.Cli.Commands;

/// <summary>Loading a model zip and applying it to a CSV, with errors that say which file is at fault.</summary>
internal static class ModelFiles
{
    public static (ITransformer Model, DataViewSchema InputSchema) Load(MLContext mlContext, string path)
    {
        if (!File.Exists(path))
            throw new CliException($"Model file not found: '{path}'.");
        if (new FileInfo(path).Length == 0)
            throw new CliException($"Model file '{path}' is empty.");
        try
        {
            var model = mlContext.Model.Load(path, out var inputSchema);
            if (inputSchema is null || inputSchema.Count == 0)
                throw new CliException($"'{path}' holds no input schema: it was not written by mlnet-mixers (train one with the classification or regression command).");
            return (model, inputSchema);
        }
        catch (Exception e) when (e is not CliException)
        {
            // The library's loaders say in one sentence what is wrong with their part; ML.NET wraps them in reflection errors.
            for (Exception? current = e; current is not null; current = current.InnerException)
            {
                if (current is FormatException && current.Message.StartsWith("The model", StringComparison.Ordinal))
                    throw new CliException($"'{path}' cannot be loaded: {FirstLine(current)}", e);
            }
            throw new CliException($"'{path}' is not an ML.NET model zip that mlnet-mixers can load ({FirstLine(Phase.Innermost(e)).TrimEnd('.')}).", e);
        }
    }

    /// <summary>Checks the data fits the model now, so a missing column is reported by name before any scoring.</summary>
    public static IDataView Apply(ITransformer model, IDataView data, string datasetPath)
    {
        try
        {
            model.GetOutputSchema(data.Schema);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new CliException($"'{datasetPath}' does not fit the model: {FirstLine(e)}", e);
        }
        return model.Transform(data);
    }

    private static string FirstLine(Exception e)
    {
        string message = e.Message;
        int newline = message.IndexOf('\n');
        return (newline < 0 ? message : message[..newline]).Trim();
    }
}
