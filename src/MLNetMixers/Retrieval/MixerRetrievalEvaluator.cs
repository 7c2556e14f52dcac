namespace MLNetMixers;

/// <summary>Retrieval quality on held-out (query, document) pairs: query i's document is document i.</summary>
/// <param name="Queries">Number of queries (= documents) evaluated.</param>
/// <param name="TopOneAccuracy">
/// For each candidate count k: the fraction of queries whose own document scores highest among k candidates (it and
/// k - 1 other documents drawn at random per query). k larger than the number of documents is left out.
/// </param>
/// <param name="RecallAt10">Fraction of queries whose document is among the 10 best of all documents.</param>
/// <param name="MeanReciprocalRank">Mean of 1 / rank of the query's document among all documents.</param>
public sealed record RetrievalMetrics(int Queries, IReadOnlyDictionary<int, double> TopOneAccuracy, double RecallAt10, double MeanReciprocalRank);

/// <summary>Which candidates the evaluator draws.</summary>
public sealed class RetrievalEvaluationOptions
{
    /// <summary>The candidate counts k of top-1 accuracy (the paper's protocol: one positive among k).</summary>
    public int[] CandidateCounts = [32, 128, 1024];

    /// <summary>Seed of the negatives drawn per query; the same seed gives every method the same candidates.</summary>
    public int Seed = 1;
}

/// <summary>
/// Scores retrieval methods alike: each fills the similarity of one query to every held-out document, and the metrics
/// are computed from those scores. A tie between the positive and other documents counts as the expected value of a
/// random order among them (a method that scores everything 0 gets chance, not a perfect rank).
/// </summary>
public static class MixerRetrievalEvaluator
{
    /// <summary>Metrics of a method given as a scoring function.</summary>
    /// <param name="count">Number of pairs N: query q's document is document q.</param>
    /// <param name="scoreQuery">Fills scores[d] (length N) with query q's similarity to document d; higher is better.</param>
    /// <param name="options">Candidate counts and seed; null uses the defaults.</param>
    public static RetrievalMetrics Evaluate(int count, Action<int, float[]> scoreQuery, RetrievalEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(scoreQuery);
        options ??= new RetrievalEvaluationOptions();
        if (count < 2)
            throw new ArgumentOutOfRangeException(nameof(count), count, "Retrieval needs at least 2 held-out pairs.");
        if (options.CandidateCounts.Any(k => k < 2))
            throw new ArgumentOutOfRangeException(nameof(options), "Every candidate count must be at least 2.");
        var ks = options.CandidateCounts.Where(k => k <= count).Distinct().Order().ToArray();
        var topOne = new double[ks.Length];
        double recall = 0, reciprocal = 0;
        var scores = new float[count];
        var pool = new int[count - 1];
        for (int q = 0; q < count; q++)
        {
            Array.Clear(scores);
            scoreQuery(q, scores);
            float positive = scores[q];
            int greater = 0, ties = 0;
            for (int d = 0; d < count; d++)
            {
                if (d == q)
                    continue;
                if (scores[d] > positive)
                    greater++;
                else if (scores[d] == positive || float.IsNaN(scores[d]) || float.IsNaN(positive))
                    ties++;
            }
            recall += ExpectedHit(greater, ties, 10);
            reciprocal += ExpectedReciprocalRank(greater, ties);

            for (int j = 0; j < ks.Length; j++)
            {
                // The same (seed, query, k) draws the same negatives for every method and in every process (HashCode.Combine
                // is salted per process, so it would give each run other candidates).
                var random = new Random(unchecked((options.Seed * 1_000_003 + q) * 8_191 + ks[j]));
                for (int i = 0, d = 0; d < count; d++)
                    if (d != q)
                        pool[i++] = d;
                int g = 0, t = 0;
                for (int i = 0; i < ks[j] - 1; i++)
                {
                    int pick = random.Next(i, pool.Length);
                    (pool[i], pool[pick]) = (pool[pick], pool[i]);
                    float s = scores[pool[i]];
                    if (s > positive)
                        g++;
                    else if (s == positive || float.IsNaN(s) || float.IsNaN(positive))
                        t++;
                }
                topOne[j] += ExpectedHit(g, t, 1);
            }
        }
        var accuracy = new SortedDictionary<int, double>();
        for (int j = 0; j < ks.Length; j++)
            accuracy[ks[j]] = topOne[j] / count;
        return new RetrievalMetrics(count, accuracy, recall / count, reciprocal / count);
    }

    /// <summary>Metrics of an embedding transformer: queries through its query tower, documents through its document tower.</summary>
    public static RetrievalMetrics Evaluate(MixerEmbeddingTransformer model, IReadOnlyList<string> queries, IReadOnlyList<string> documents,
                                            RetrievalEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(documents);
        if (queries.Count != documents.Count)
            throw new ArgumentException($"{queries.Count} queries but {documents.Count} documents: held-out pairs come one query per document.", nameof(documents));
        var index = model.CreateIndex(documents);
        var embedded = model.EmbedQueries(queries);
        int dimension = index.Dimension;
        return Evaluate(queries.Count, (q, scores) => index.Scores(embedded.AsSpan(q * dimension, dimension), scores), options);
    }

    /// <summary>Probability that the positive ranks within the best <paramref name="depth"/> when it ties with <paramref name="ties"/> others in random order.</summary>
    private static double ExpectedHit(int greater, int ties, int depth)
        => Math.Clamp((depth - greater) / (double)(ties + 1), 0, 1);

    private static double ExpectedReciprocalRank(int greater, int ties)
    {
        double sum = 0;
        for (int r = greater + 1; r <= greater + ties + 1; r++)
            sum += 1.0 / r;
        return sum / (ties + 1);
    }
}
