using System.Runtime.ExceptionServices;
using System.Text.RegularExpressions;
using Microsoft.ML;
using MLNetMixers.Cli.Data;
using MLNetMixers.Cli.Training;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// Runs one long phase of a command so that Ctrl+C reaches it whatever it is doing (ML.NET and LightGBM check no
/// token): the work runs on its own background thread, the command waits for it or for the token, and on
/// cancellation returns at once, leaving the abandoned work to end with the process. Failures the CLI did not foresee
/// become one sentence naming the phase, in the user's column names.
/// </summary>
internal static class Phase
{
    public static T Run<T>(string phase, MLContext mlContext, InternalNames names, CancellationToken cancellation, Func<T> work)
    {
        cancellation.ThrowIfCancellationRequested();
        var task = Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            task.Wait(cancellation);
        }
        catch (AggregateException e) when (e.InnerException is { } inner)
        {
            if (inner is CliException or OperationCanceledException)
                ExceptionDispatchInfo.Capture(inner).Throw();
            if (cancellation.IsCancellationRequested)
                throw new OperationCanceledException(cancellation);
            throw new CliException($"{phase} failed: {names.Translate(FirstLine(Innermost(inner).Message))}", inner);
        }
        return task.Result;
    }

    internal static Exception Innermost(Exception e)
    {
        while (e is AggregateException or System.Reflection.TargetInvocationException or TypeInitializationException
               || e.Message.StartsWith("Exception has been thrown by the target", StringComparison.Ordinal))
        {
            if (e.InnerException is null)
                break;
            e = e.InnerException;
        }
        return e;
    }

    internal static string FirstLine(string message)
    {
        int newline = message.IndexOf('\n');
        return (newline < 0 ? message : message[..newline]).Trim();
    }
}

/// <summary>Maps the pipeline's internal column names back to the user's (prepared label -> label column, and so on).</summary>
internal sealed partial class InternalNames(LabelSpec? label, CsvSchema schema)
{
    public string Translate(string message)
    {
        message = BaselineColumn().Replace(message, "the baseline's features");
        if (label is not null)
        {
            message = message.Replace("'__RawLabel'", $"'{label.RawColumn}'", StringComparison.Ordinal)
                             .Replace($"'{label.Column}'", $"'{label.RawColumn}'", StringComparison.Ordinal);
        }
        message = message.Replace("'__MixerFeatures'", "the encoded features", StringComparison.Ordinal);
        if (schema.Find("Features") is null)
            message = message.Replace("'Features'", "the encoded features", StringComparison.Ordinal);
        // ML.NET's argument names ("(Parameter 'PosSample')") mean nothing to a user.
        return ParameterSuffix().Replace(message, "").TrimEnd().TrimEnd('.') + ".";
    }

    [GeneratedRegex(@"'?__Baseline\w*'?")]
    private static partial Regex BaselineColumn();

    [GeneratedRegex(@"\s*\(Parameter '[^']*'\)")]
    private static partial Regex ParameterSuffix();
}
