namespace MLNetMixers.Tests.Retrieval;

/// <summary>The search index against brute force, and the evaluator's metrics on hand-made similarity matrices.</summary>
public class SearchAndEvaluatorTests
{
    [Fact]
    public void Top_k_equals_sorting_every_score()
    {
        var random = new Random(5);
        int n = 500, d = 16;
        var matrix = new float[n * d];
        for (int i = 0; i < matrix.Length; i++)
            matrix[i] = (float)(random.NextDouble() * 2 - 1);
        // A few exact ties: copies of row 7.
        for (int copy = 100; copy < 103; copy++)
            Array.Copy(matrix, 7 * d, matrix, copy * d, d);
        var index = new MixerSearchIndex(matrix, d, Enumerable.Range(0, n).Select(i => $"doc {i}").ToArray(), embedder: null);
        for (int trial = 0; trial < 20; trial++)
        {
            var query = trial == 0 ? matrix.AsSpan(7 * d, d).ToArray() : Enumerable.Range(0, d).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            foreach (int k in new[] { 1, 10, 37, n + 5 })
            {
                var hits = index.Search(query, k);
                var expected = Enumerable.Range(0, n)
                    .Select(i => (Row: i, Score: Enumerable.Range(0, d).Sum(j => matrix[i * d + j] * query[j])))
                    .OrderByDescending(x => x.Score).ThenBy(x => x.Row).Take(k).ToArray();
                Assert.Equal(expected.Length, hits.Count);
                for (int r = 0; r < hits.Count; r++)
                {
                    Assert.True(Math.Abs(expected[r].Score - hits[r].Score) < 1e-4, $"rank {r}: {hits[r].Score} vs {expected[r].Score}");
                    Assert.Equal($"doc {hits[r].Row}", hits[r].Document);
                }
                // Rows agree wherever scores are not tied within rounding.
                Assert.Equal(expected.Select(e => e.Row).Where((_, r) => r == 0 || Math.Abs(expected[r].Score - expected[r - 1].Score) > 1e-4),
                             hits.Select(h => h.Row).Where((_, r) => r == 0 || Math.Abs(expected[r].Score - expected[r - 1].Score) > 1e-4));
            }
        }
        Assert.Throws<ArgumentException>(() => index.Search(new float[d + 1], 3));
    }

    [Fact]
    public void Metrics_of_a_hand_made_similarity_matrix()
    {
        // 4 queries, 4 documents; query q's document is q.
        float[][] s =
        [
            [0.9f, 0.1f, 0.2f, 0.3f],   // rank 1
            [0.5f, 0.4f, 0.1f, 0.0f],   // rank 2 (doc 0 beats it)
            [0.8f, 0.7f, 0.6f, 0.1f],   // rank 3
            [0.2f, 0.2f, 0.2f, 0.2f],   // tied with all 3 others: expected rank 2.5
        ];
        var metrics = MixerRetrievalEvaluator.Evaluate(4, (q, scores) => s[q].CopyTo(scores, 0),
            new RetrievalEvaluationOptions { CandidateCounts = [2, 4, 32] });
        Assert.Equal(4, metrics.Queries);
        Assert.False(metrics.TopOneAccuracy.ContainsKey(32));   // more candidates than documents
        // Among all 4: only query 0 is first for sure; query 3 is first with probability 1/4.
        Assert.Equal((1 + 0.25) / 4, metrics.TopOneAccuracy[4], 10);
        double mrr = (1 + 0.5 + 1.0 / 3 + (1 + 0.5 + 1.0 / 3 + 0.25) / 4) / 4;
        Assert.Equal(mrr, metrics.MeanReciprocalRank, 10);
        Assert.Equal(1.0, metrics.RecallAt10, 10);

        // Among 2 candidates: query 0 always wins, query 3 half the time, query 1 wins unless doc 0 is drawn (1/3),
        // query 2 wins only against doc 3 (1/3); the draws are seeded, so compute what was drawn from the bounds.
        double top2 = metrics.TopOneAccuracy[2];
        Assert.InRange(top2, (1 + 0.5) / 4, (1 + 0.5 + 1 + 1) / 4);
    }

    [Fact]
    public void A_method_that_scores_everything_alike_gets_chance_not_a_perfect_rank()
    {
        int n = 40;
        var metrics = MixerRetrievalEvaluator.Evaluate(n, (q, scores) => Array.Fill(scores, 0.5f), new RetrievalEvaluationOptions { CandidateCounts = [2, 8, 32] });
        Assert.Equal(1.0 / 2, metrics.TopOneAccuracy[2], 10);
        Assert.Equal(1.0 / 8, metrics.TopOneAccuracy[8], 10);
        Assert.Equal(1.0 / 32, metrics.TopOneAccuracy[32], 10);
        Assert.Equal(10.0 / n, metrics.RecallAt10, 10);
        Assert.Equal(Enumerable.Range(1, n).Sum(r => 1.0 / r) / n, metrics.MeanReciprocalRank, 10);
    }

    [Fact]
    public void Same_seed_draws_the_same_candidates_and_a_perfect_method_scores_one()
    {
        int n = 200;
        var perfect = MixerRetrievalEvaluator.Evaluate(n, (q, scores) => scores[q] = 1);
        Assert.All(perfect.TopOneAccuracy.Values.Take(2), v => Assert.Equal(1.0, v));
        Assert.Equal(1.0, perfect.MeanReciprocalRank, 10);

        var random = new Random(3);
        var noise = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, n).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
        var a = MixerRetrievalEvaluator.Evaluate(n, (q, scores) => noise[q].CopyTo(scores, 0));
        var b = MixerRetrievalEvaluator.Evaluate(n, (q, scores) => noise[q].CopyTo(scores, 0));
        Assert.Equal(a.TopOneAccuracy[32], b.TopOneAccuracy[32]);
        // Random scores: about 1/32 top-1 among 32.
        Assert.InRange(a.TopOneAccuracy[32], 0.0, 0.12);
        Assert.InRange(a.RecallAt10, 0.0, 0.15);
    }
}
