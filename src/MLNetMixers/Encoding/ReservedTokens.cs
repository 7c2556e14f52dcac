namespace MLNetMixers.Encoding;

/// <summary>
/// Token ids every character vocabulary reserves before its learned characters. Encoded columns are
/// ML.NET key columns, so the key value of token id t is t + 1 (key 0 is ML.NET's "missing key").
/// </summary>
internal static class ReservedTokens
{
    /// <summary>Fills a field shorter than its width.</summary>
    public const int Padding = 0;

    /// <summary>Between fields (optional in the layout).</summary>
    public const int Separator = 1;

    /// <summary>A missing value (null, NA, empty numeric); fills the whole field.</summary>
    public const int Missing = 2;

    /// <summary>A character not seen at fit time.</summary>
    public const int Unknown = 3;

    /// <summary>Number of reserved ids; learned characters start here.</summary>
    public const int Count = 4;
}
