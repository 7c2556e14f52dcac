using System.CommandLine;

namespace MLNetMixers.Cli.Commands;

/// <summary>The commands beyond training and prediction: explain, generate, export, the language-model compression commands, retrieval and search.</summary>
internal static class ExtraCommands
{
    public static IEnumerable<Command> Create(Option<bool> verbose)
    {
        yield return ExplainCommand.Create(verbose);
        yield return GenerateCommand.Create(verbose);
        yield return MemoryLanguageModelCommand.Create(verbose);
        yield return OnnxCommands.Export(verbose);
        foreach (var command in CompressionCommands.Create(verbose))
            yield return command;
        yield return RetrievalCommand.Create(verbose);
        yield return SearchCommand.Create(verbose);
    }
}
