using System.Globalization;
using Microsoft.ML;

namespace MLNetMixers.Persistence;

/// <summary>
/// The library's side of <c>mlContext.Model.Load</c>: a part of a model zip written by another component, another
/// format version or damaged in transit fails with one sentence that says which, never with a reader's raw error.
/// </summary>
internal static class ModelFormat
{
    public static T Read<T>(ModelLoadContext ctx, VersionInfo version, string component, Func<T> read)
    {
        try
        {
            ctx.CheckAtModel(version);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new FormatException(Mismatch(ctx, version, component), e);
        }
        try
        {
            return read();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A damaged stream fails anywhere: a short read, an absurd length, a bad enum or tensor shape.
            throw new FormatException($"The model's {component} is damaged or incomplete and cannot be read ({FirstLine(e.Message)}); save the model again.", e);
        }
    }

    private static string Mismatch(ModelLoadContext ctx, VersionInfo version, string component)
    {
        var header = ctx.Header;
        string library = typeof(ModelFormat).Assembly.GetName().Version?.ToString() ?? "this version";
        if (header.ModelSignature != version.ModelSignature)
        {
            return $"The model zip holds a part written by another component ('{Signature(header.ModelSignature)}') where MLNetMixers expects its {component} " +
                   $"('{Signature(version.ModelSignature)}'): the zip was not saved by this pipeline, or is damaged.";
        }
        return $"The model's {component} was saved in format {Hex(header.ModelVerWritten)} (readable from {Hex(header.ModelVerReadable)}), but MLNetMixers {library} " +
               $"reads formats {Hex(version.VerWeCanReadBack)} to {Hex(version.VerWrittenCur)}: load it with the MLNetMixers version that saved it, or train and save it again.";
    }

    private static string Hex(uint value) => "0x" + value.ToString("X8", CultureInfo.InvariantCulture);

    private static string Signature(ulong signature)
    {
        var chars = new char[8];
        for (int i = 0; i < 8; i++)
        {
            char c = (char)((signature >> (8 * i)) & 0xFF);
            chars[i] = c is >= ' ' and <= '~' ? c : '?';
        }
        return new string(chars).TrimEnd('?', ' ');
    }

    private static string FirstLine(string message)
    {
        int newline = message.IndexOf('\n');
        return (newline < 0 ? message : message[..newline]).Trim().TrimEnd('.');
    }
}
