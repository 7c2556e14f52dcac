using System.CommandLine;
using Microsoft.ML;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// <c>export</c> (a model zip -> ONNX) and the ONNX scoring zip that <c>classification</c> and <c>regression</c> write
/// beside model.zip: the same pipeline scored by ONNX Runtime, loadable without libtorch.
/// </summary>
internal static class OnnxCommands
{
    /// <summary>The ONNX scoring zip the training commands write; <c>predict</c> and ConsumeModel.cs take it as they take model.zip.</summary>
    public const string OnnxModelFileName = "model-onnx.zip";

    public static Command Export(Option<bool> verbose)
    {
        var model = new Option<string>("--model", "-m") { Description = "A model zip written by classification, regression or generate.", Required = true };
        var output = new Option<string>("--output", "-o")
        {
            Description = "The ONNX file to write. A language model writes two graphs: NAME-prefill.onnx and NAME-step.onnx.",
            DefaultValueFactory = _ => "model.onnx",
        };
        var command = new Command("export", "Export a trained model's network to ONNX (standard operators, opset 17) for ONNX Runtime.") { model, output };
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            return RunExport(parse.GetValue(model)!, parse.GetValue(output)!, ui);
        });
        return command;
    }

    public static int RunExport(string modelPath, string outputPath, ConsoleUi ui)
    {
        StagedFile.Check(outputPath, [("--model", modelPath)]);
        var mlContext = new MLContext(seed: 1) { FallbackToCpu = true };
        var (model, _) = ModelFiles.Load(mlContext, modelPath);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        if (Flatten(model).OfType<MixerLanguageModelTransformer>().FirstOrDefault() is { } languageModel)
        {
            string stem = Path.Combine(folder ?? ".", Path.GetFileNameWithoutExtension(outputPath));
            string prefill = stem + "-prefill.onnx", step = stem + "-step.onnx";
            try
            {
                WriteAtomically(prefill, p => WriteAtomically(step, s => mlContext.Model.ExportToOnnx(languageModel, p, s)));
            }
            catch (NotSupportedException e)
            {
                throw new CliException($"'{modelPath}' cannot be exported: {e.Message}", e);
            }
            ui.Line($"Wrote {Path.GetFullPath(prefill)} (prompt -> logits and decoding state) and {Path.GetFullPath(step)} (one token -> logits and state).");
            return 0;
        }
        try
        {
            WriteAtomically(outputPath, stream => mlContext.Model.ExportToOnnx(model, stream));
        }
        catch (ArgumentException e)
        {
            throw new CliException($"'{modelPath}' cannot be exported: {e.Message.Split('(')[0].Trim()}", e);
        }
        ui.Line($"Wrote {Path.GetFullPath(outputPath)} (input token_ids: the EncodeAsCharacters keys minus 1, int64 [batch, T]).");
        return 0;
    }

    /// <summary>
    /// Writes <see cref="OnnxModelFileName"/> into <paramref name="folder"/>. An extra of the training run: when it fails the
    /// run still succeeds with model.zip, and says why the ONNX zip is missing.
    /// </summary>
    public static string? WriteScoringZip(MLContext mlContext, ITransformer model, DataViewSchema inputSchema, string folder, ConsoleUi ui)
    {
        string path = Path.Combine(folder, OnnxModelFileName);
        try
        {
            var onnx = mlContext.Model.ConvertToOnnxScoring(model, inputSchema);
            WriteAtomically(path, stream => mlContext.Model.Save(onnx, inputSchema, stream));
            (onnx as IDisposable)?.Dispose();
            return path;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or IOException)
        {
            ui.Warning($"{OnnxModelFileName} skipped: {e.Message}");
            ui.Detail(e.ToString());
            return null;
        }
    }

    /// <summary>Writes through a temporary file, so a failed export never leaves a truncated file or destroys an old one.</summary>
    private static void WriteAtomically(string path, Action<Stream> write)
    {
        string temporary = path + ".partial";
        try
        {
            using (var stream = File.Create(temporary))
                write(stream);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer model)
        => model is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [model];
}
