using static TorchSharp.torch;

namespace MLNetMixers.Retrieval;

/// <summary>
/// The InfoNCE loss over cosine similarity (unit-length embeddings), query -> document:
///   L = -(1/B) Σ_b log( exp(cos(q_b, d_b⁺)/τ) / Σ_c exp(cos(q_b, d_c)/τ) )
/// with the candidates c either each query's own sampled list (positive first) or the batch's documents; in-batch,
/// optionally also document -> query (the mean of both directions, as CLIP trains).
/// </summary>
internal static class InfoNce
{
    /// <summary>Queries [B, D], candidates [B, K, D] with each query's positive at index 0 -> mean loss.</summary>
    public static Tensor SampledLoss(Tensor queries, Tensor candidates, double temperature)
    {
        var logits = matmul(candidates, queries.unsqueeze(2)).squeeze(2) / temperature;   // [B, K]
        var target = zeros(queries.shape[0], ScalarType.Int64, queries.device);
        return nn.functional.cross_entropy(logits, target);
    }

    /// <summary>
    /// Queries [B, D] and their documents [B, D]: every other document of the batch is a negative; symmetric: every
    /// other query is also a negative of each document, and the loss is the mean of the two directions.
    /// </summary>
    public static Tensor InBatchLoss(Tensor queries, Tensor documents, double temperature, bool symmetric = false)
    {
        var logits = matmul(queries, documents.t()) / temperature;                       // [B, B]
        var target = arange(queries.shape[0], ScalarType.Int64, queries.device);
        var loss = nn.functional.cross_entropy(logits, target);
        return symmetric ? (loss + nn.functional.cross_entropy(logits.t(), target)) / 2 : loss;
    }
}
