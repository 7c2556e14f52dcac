using System.CommandLine;

namespace MLNetMixers.Cli.Commands;

/// <summary>Commands that depend on library features landing separately (explain, generate).</summary>
internal static class ExtraCommands
{
    public static IEnumerable<Command> Create(Option<bool> verbose)
    {
        yield break;
    }
}
