using System.Numerics.Tensors;

namespace MLNetMixers;

/// <summary>One search result: the document's row in the indexed column and its cosine similarity to the query.</summary>
/// <param name="Row">0-based row of the document in the indexed data.</param>
/// <param name="Score">Cosine similarity in [-1, 1].</param>
/// <param name="Document">The document's text.</param>
public sealed record SearchHit(int Row, float Score, string Document);

/// <summary>
/// Documents embedded once and held as one row-major float matrix [N, D] of unit vectors; a query is scored against
/// every row (a vectorised dot product per row, i.e. cosine) and the k best are kept in a small heap.
/// Created by <see cref="MixerEmbeddingTransformer.CreateIndex(IReadOnlyList{string})"/>. Immutable and thread-safe.
/// </summary>
public sealed class MixerSearchIndex
{
    private readonly float[] matrix;
    private readonly string[] documents;
    private readonly MixerEmbeddingTransformer? embedder;

    internal MixerSearchIndex(float[] matrix, int dimension, string[] documents, MixerEmbeddingTransformer? embedder)
    {
        if (matrix.Length != documents.Length * dimension)
            throw new ArgumentException($"The matrix holds {matrix.Length} values, not {documents.Length} x {dimension}.", nameof(matrix));
        this.matrix = matrix;
        this.documents = documents;
        this.embedder = embedder;
        Dimension = dimension;
    }

    /// <summary>Number of indexed documents.</summary>
    public int Count => documents.Length;

    /// <summary>Embedding length D.</summary>
    public int Dimension { get; }

    /// <summary>The k documents most similar to <paramref name="query"/> (embedded with the query tower), best first.</summary>
    public IReadOnlyList<SearchHit> Search(string query, int k = 10)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (embedder is null)
            throw new InvalidOperationException("This index was built from raw embeddings; search it with an embedding vector.");
        return Search(embedder.EmbedQueries([query]), k);
    }

    /// <summary>The k documents most similar to a query embedding of length D, best first (ties: the lower row first).</summary>
    public IReadOnlyList<SearchHit> Search(ReadOnlySpan<float> queryEmbedding, int k = 10)
    {
        if (queryEmbedding.Length != Dimension)
            throw new ArgumentException($"The query embedding has {queryEmbedding.Length} values; the index holds {Dimension}-dimensional embeddings.", nameof(queryEmbedding));
        if (k < 1)
            throw new ArgumentOutOfRangeException(nameof(k), k, "k must be at least 1.");
        var scores = new float[Count];
        Scores(queryEmbedding, scores);
        return TopK(scores, k).Select(r => new SearchHit(r, scores[r], documents[r])).ToArray();
    }

    /// <summary>Cosine of the query with every document: scores[i] = E[i] · q.</summary>
    public void Scores(ReadOnlySpan<float> queryEmbedding, Span<float> scores)
    {
        int d = Dimension;
        var all = matrix.AsSpan();
        for (int i = 0; i < scores.Length; i++)
            scores[i] = TensorPrimitives.Dot(all.Slice(i * d, d), queryEmbedding);
    }

    /// <summary>Rows of the k largest scores, best first; equal scores keep the lower row first (a heap of k: O(N log k)).</summary>
    /// <param name="scores">One score per row.</param>
    /// <param name="k">How many rows to return (fewer when there are fewer scores).</param>
    public static int[] TopK(ReadOnlySpan<float> scores, int k)
    {
        k = Math.Min(k, scores.Length);
        // Min-heap of the best k so far: the root is the weakest kept (lowest score, then highest row).
        var heap = new PriorityQueue<int, (float Score, int NegativeRow)>(k + 1);
        for (int i = 0; i < scores.Length; i++)
        {
            var priority = (scores[i], -i);
            if (heap.Count < k)
                heap.Enqueue(i, priority);
            else if (heap.TryPeek(out _, out var weakest) && priority.CompareTo(weakest) > 0)
                heap.EnqueueDequeue(i, priority);
        }
        var result = new int[heap.Count];
        for (int j = result.Length - 1; j >= 0; j--)
            result[j] = heap.Dequeue();
        return result;
    }

    internal ReadOnlySpan<float> Row(int i) => matrix.AsSpan(i * Dimension, Dimension);
}
