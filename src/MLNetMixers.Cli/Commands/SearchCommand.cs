using System.CommandLine;
using System.Globalization;
using Microsoft.ML;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Commands;

/// <summary><c>search</c>: indexes a document column of a CSV with a retriever zip once and prints the best documents per query.</summary>
internal static class SearchCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var model = new Option<string>("--model", "-m") { Description = "A retriever zip written by the retrieval command.", Required = true };
        var index = new Option<string>("--index") { Description = "CSV whose document column is indexed.", Required = true };
        var documentCol = new Option<string?>("--document-col") { Description = "The column to index (default: the document column the retriever was trained on)." };
        var idCol = new Option<string?>("--id-col") { Description = "A column printed beside each hit (e.g. Package)." };
        var query = new Option<string[]>("--query", "-q") { Description = "Query text; repeat for several queries.", Required = true, AllowMultipleArgumentsPerToken = false };
        var top = new Option<int>("--top", "-k") { Description = "Documents shown per query.", DefaultValueFactory = _ => 10 };
        var threads = new Option<int?>("--threads") { Description = $"CPU threads for torch (default {CliApp.DefaultThreads})." };
        var command = new Command("search", "Index the documents of a CSV with a retriever and print the best matches of each query.")
        {
            model, index, documentCol, idCol, query, top, threads,
        };
        command.SetAction(parse =>
        {
            var ui = new ConsoleUi(parse.GetValue(verbose));
            CliApp.ApplyThreads(CliApp.Positive(parse.GetValue(threads), "--threads"));
            int k = CliApp.Positive(parse.GetValue(top), "--top")!.Value;
            var mlContext = new MLContext(1) { FallbackToCpu = true };
            string modelPath = parse.GetValue(model)!;
            var (loaded, _) = ModelFiles.Load(mlContext, modelPath);
            var retriever = GenerateCommand.Flatten(loaded).OfType<MixerEmbeddingTransformer>().FirstOrDefault()
                ?? throw new CliException($"'{modelPath}' is not a retriever written by 'mlnet-mixers retrieval'.");
            string column = parse.GetValue(documentCol) ?? retriever.Columns[^1].Input;
            var documents = PairsFile.ReadColumn(parse.GetValue(index)!, column, out var ids, parse.GetValue(idCol));
            if (documents.Count == 0)
                throw new CliException($"'{parse.GetValue(index)}' has no rows to index.");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var searchIndex = retriever.CreateIndex(documents);
            ui.Line($"Indexed {documents.Count:N0} documents of '{column}' in {clock.Elapsed.TotalSeconds:F1} s ({documents.Count / clock.Elapsed.TotalSeconds:N0} documents/s).");
            foreach (string q in parse.GetValue(query)!)
            {
                clock.Restart();
                var hits = searchIndex.Search(q, k);
                ui.Heading($"{q}  ({clock.Elapsed.TotalMilliseconds:F1} ms)");
                int rank = 1;
                foreach (var hit in hits)
                {
                    string first = hit.Document.Split('\n')[0];
                    if (first.Length > 100)
                        first = first[..100] + "…";
                    string id = ids is null ? "" : ids[hit.Row] + "  ";
                    ui.Line($"{rank++,3}. {hit.Score.ToString("F3", CultureInfo.InvariantCulture)}  {id}{first}");
                }
            }
            retriever.Dispose();
            return 0;
        });
        return command;
    }
}
