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
    int ValueTokenStart = -1)
{
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
    }

    /// <param name="r">The reader.</param>
    /// <param name="withValueTokens">Whether the shape was saved with its value-token start (models saved before value tokens were not).</param>
    public static TabularModelConfig Load(BinaryReader r, bool withValueTokens) => new(
        (TabularArchitecture)r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadDouble(),
        withValueTokens ? r.ReadInt32() : -1);
}
