namespace MLNetMixers.Cli;

/// <summary>
/// A problem with the user's input (a file, a column, an option) that the CLI reports as one line on stderr,
/// with a non-zero exit code and no stack trace.
/// </summary>
internal sealed class CliException(string message, Exception? inner = null) : Exception(message, inner);
