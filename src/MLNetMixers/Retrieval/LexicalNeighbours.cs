namespace MLNetMixers.Retrieval;

/// <summary>
/// Hard negatives mined once before contrastive training: for each training query, the other training pairs whose
/// documents share the query's rarest tokens (IDF-weighted token overlap, a BM25 without length terms). Random
/// in-batch negatives are almost never a package's near namesakes (`foo` and `foo-data`), which are exactly what a
/// trained retriever confuses; putting them in the same batch makes the loss separate them.
/// </summary>
internal static class LexicalNeighbours
{
    /// <summary>
    /// Up to <paramref name="perQuery"/> neighbours of each query (indices of other pairs, best first). A pair whose
    /// document is token for token the query's own is skipped: no embedding can separate it, so it would only be a
    /// false negative. Tokens in more than a tenth of the documents carry too little to rank and are not read.
    /// </summary>
    public static int[][] Mine(IReadOnlyList<int[]> queries, IReadOnlyList<int[]> documents, int perQuery)
    {
        int n = documents.Count;
        int vocabulary = 1 + Math.Max(documents.Max(MaxToken), queries.Max(MaxToken));
        var frequency = new int[vocabulary];
        var distinct = documents.Select(d => d.Distinct().ToArray()).ToArray();
        foreach (var tokens in distinct)
            foreach (int t in tokens)
                frequency[t]++;
        var postings = new int[vocabulary][];
        var filled = new int[vocabulary];
        for (int t = 0; t < vocabulary; t++)
            postings[t] = new int[frequency[t]];
        for (int doc = 0; doc < n; doc++)
            foreach (int t in distinct[doc])
                postings[t][filled[t]++] = doc;
        int commonest = Math.Max(2, n / 10);

        var result = new int[queries.Count][];
        var score = new float[n];
        var touched = new List<int>();
        var best = new PriorityQueue<int, float>();
        for (int q = 0; q < queries.Count; q++)
        {
            foreach (int t in queries[q].Distinct())
            {
                if (frequency[t] == 0 || frequency[t] > commonest)
                    continue;
                float idf = MathF.Log((float)n / frequency[t]);
                foreach (int doc in postings[t])
                {
                    if (score[doc] == 0)
                        touched.Add(doc);
                    score[doc] += idf;
                }
            }
            // A min-heap of the perQuery best keeps this linear in the documents touched.
            foreach (int doc in touched)
            {
                if (doc == q || (q < n && documents[doc].AsSpan().SequenceEqual(documents[q])))
                    continue;
                best.Enqueue(doc, score[doc]);
                if (best.Count > perQuery)
                    best.Dequeue();
            }
            var found = new int[best.Count];
            for (int i = found.Length - 1; i >= 0; i--)
                found[i] = best.Dequeue();
            result[q] = found;
            foreach (int doc in touched)
                score[doc] = 0;
            touched.Clear();
        }
        return result;
    }

    private static int MaxToken(int[] tokens) => tokens.Length == 0 ? 0 : tokens.Max();
}
