namespace MLNetMixers;

/// <summary>
/// How a causal language model's final hidden states [T, D] become one text embedding. Text is right-padded, so
/// every real position is unaffected by padding (the models are causal) and pooling reads real positions only.
/// </summary>
public enum EmbeddingPooling
{
    /// <summary>
    /// The hidden state of the last real token: in a causal model the only position that has seen the whole text
    /// (the paper's choice, "index -2 of left-padded input", is the same position).
    /// </summary>
    LastToken,

    /// <summary>The mean of the hidden states of every real token (the leading end-of-text included).</summary>
    Mean,

    /// <summary>
    /// An end-of-text token is appended and its hidden state is the embedding: a position that has seen the whole
    /// text and is the same token for every text (e5-style last-token pooling with an end marker).
    /// </summary>
    EndOfText,
}
