namespace MLNetMixers.Models;

/// <summary>
/// Everything needed to rebuild a tabular network before its weights are loaded: the architecture and its sizes.
/// Saved in the model zip next to the weights.
/// </summary>
internal sealed record TabularModelConfig(
    TabularArchitecture Architecture,
    int SequenceLength,
    int VocabularySize,
    int Outputs,
    int Width,
    int Depth,
    int MlpRatio,
    int Heads,
    double Dropout,
    int ValueTokenStart = -1,
    int PositionsPerToken = 1)
{
    /// <summary>
    /// Tokens the blocks mix: T, or ceil(T / <see cref="PositionsPerToken"/>) when adjacent positions are grouped into
    /// one token (wide tables, see <see cref="MixerTrainerOptions.MaxMixedTokens"/>).
    /// </summary>
    public int MixedTokens => (SequenceLength + PositionsPerToken - 1) / PositionsPerToken;

    /// <summary>Positions per token for a row of <paramref name="sequenceLength"/> positions whose blocks mix at most <paramref name="maxMixedTokens"/> tokens (0: no limit).</summary>
    public static int GroupFor(int sequenceLength, int maxMixedTokens)
        => maxMixedTokens <= 0 || sequenceLength <= maxMixedTokens ? 1 : (sequenceLength + maxMixedTokens - 1) / maxMixedTokens;

    /// <summary>Builds the network with freshly initialised weights (from torch's current random state).</summary>
    public TabularModel Create() => Architecture switch
    {
        TabularArchitecture.Mixer or TabularArchitecture.Transformer => new TabularMixer(this),
        TabularArchitecture.Mlp => new MlpBaseline(SequenceLength, VocabularySize, Outputs, Width, Depth, MlpRatio, Dropout, ValueTokenStart),
        _ => throw new ArgumentOutOfRangeException(nameof(Architecture), Architecture, "Unknown tabular architecture."),
    };

    /// <summary>
    /// The current name of a weight saved under <paramref name="savedName"/> by an earlier version, or null when the
    /// name is current: the transformer baseline had its own encoder block (attentionNorm, attention.output, mlpNorm)
    /// before it became a <see cref="MixerBlock"/> with a self-attention token mixer.
    /// </summary>
    public string? RenamedWeight(string savedName) => Architecture != TabularArchitecture.Transformer ? null : savedName
        .Replace(".attentionNorm.", ".tokenNorm.")
        .Replace(".attention.output.", ".tokenMixing.outProjection.")
        .Replace(".attention.", ".tokenMixing.")
        .Replace(".mlpNorm.", ".channelNorm.");

    public void Save(BinaryWriter w)
    {
        w.Write((int)Architecture);
        w.Write(SequenceLength);
        w.Write(VocabularySize);
        w.Write(Outputs);
        w.Write(Width);
        w.Write(Depth);
        w.Write(MlpRatio);
        w.Write(Heads);
        w.Write(Dropout);
        w.Write(ValueTokenStart);
        w.Write(PositionsPerToken);
    }

    /// <param name="r">The reader.</param>
    /// <param name="withValueTokens">Whether the shape was saved with its value-token start (models saved before value tokens were not).</param>
    /// <param name="withGrouping">Whether it was saved with <see cref="PositionsPerToken"/> (models saved before wide-table grouping were not).</param>
    public static TabularModelConfig Load(BinaryReader r, bool withValueTokens, bool withGrouping) => new(
        (TabularArchitecture)r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadDouble(),
        withValueTokens ? r.ReadInt32() : -1, withGrouping ? r.ReadInt32() : 1);
}
