using Lucene.Net.Analysis;
using Lucene.Net.Analysis.En;
using Lucene.Net.Analysis.TokenAttributes;
using Lucene.Net.Documents;
using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Search.Similarities;
using Lucene.Net.Store;
using Lucene.Net.Util;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Text;

namespace MLNetMixers.Cli.Retrieval;

/// <summary>
/// BM25 (k1 1.2, b 0.75) with Lucene.Net over the documents, English analysis (lower case, stop words, Porter stems):
/// the lexical baseline a search engineer tries first. A query is the OR of its analysed terms.
/// </summary>
internal sealed class Bm25Index : IDisposable
{
    private const LuceneVersion Version = LuceneVersion.LUCENE_48;
    private const string TextField = "text";
    private readonly RAMDirectory directory = new();
    private readonly Analyzer analyzer = new EnglishAnalyzer(Version);
    private readonly DirectoryReader reader;
    private readonly IndexSearcher searcher;

    public Bm25Index(IReadOnlyList<string> documents)
    {
        var config = new IndexWriterConfig(Version, analyzer) { Similarity = new BM25Similarity(), OpenMode = OpenMode.CREATE };
        using (var writer = new IndexWriter(directory, config))
        {
            foreach (var text in documents)
                writer.AddDocument([new Lucene.Net.Documents.TextField(TextField, text, Lucene.Net.Documents.Field.Store.NO)]);
            // One segment keeps Lucene's document ids equal to the rows.
            writer.ForceMerge(1);
            writer.Commit();
        }
        reader = DirectoryReader.Open(directory);
        searcher = new IndexSearcher(reader) { Similarity = new BM25Similarity() };
        Count = documents.Count;
    }

    public int Count { get; }

    /// <summary>BM25 score of the query against every document (0 where no term matches).</summary>
    public void Scores(string query, float[] scores)
    {
        var built = Build(query);
        if (built is null)
            return;
        foreach (var hit in searcher.Search(built, Count).ScoreDocs)
            scores[hit.Doc] = hit.Score;
    }

    /// <summary>Rows of the k best documents.</summary>
    public int[] Search(string query, int k)
    {
        var built = Build(query);
        return built is null ? [] : searcher.Search(built, k).ScoreDocs.Select(h => h.Doc).ToArray();
    }

    private BooleanQuery? Build(string query)
    {
        var terms = new List<string>();
        using (var stream = analyzer.GetTokenStream(TextField, query))
        {
            var term = stream.AddAttribute<ICharTermAttribute>();
            stream.Reset();
            while (stream.IncrementToken())
                terms.Add(term.ToString());
            stream.End();
        }
        if (terms.Count == 0)
            return null;
        var built = new BooleanQuery();
        foreach (var t in terms)
            built.Add(new TermQuery(new Term(TextField, t)), Occur.SHOULD);
        return built;
    }

    public void Dispose()
    {
        reader.Dispose();
        analyzer.Dispose();
        directory.Dispose();
    }
}

/// <summary>
/// ML.NET's own text features as a retriever: <c>FeaturizeText</c> with TF-IDF word 1-2-grams and character 3-grams,
/// L2-normalised, fitted on the documents; the score is the cosine of the query's and each document's vectors
/// (an inverted index over the documents' non-zero features).
/// </summary>
internal sealed class TfIdfIndex
{
    private readonly ITransformer featurizer;
    private readonly MLContext mlContext;
    private readonly Dictionary<int, List<(int Row, float Value)>> postings = new();

    public TfIdfIndex(MLContext mlContext, IReadOnlyList<string> documents)
    {
        this.mlContext = mlContext;
        var options = new TextFeaturizingEstimator.Options
        {
            WordFeatureExtractor = new WordBagEstimator.Options { NgramLength = 2, Weighting = NgramExtractingEstimator.WeightingCriteria.TfIdf },
            CharFeatureExtractor = new WordBagEstimator.Options { NgramLength = 3, Weighting = NgramExtractingEstimator.WeightingCriteria.TfIdf },
            Norm = TextFeaturizingEstimator.NormFunction.L2,
        };
        var data = mlContext.Data.LoadFromEnumerable(documents.Select(d => new TextRow { Text = d }));
        featurizer = mlContext.Transforms.Text.FeaturizeText("Features", options, nameof(TextRow.Text)).Fit(data);
        int row = 0;
        foreach (var vector in Featurize(documents))
        {
            foreach (var (feature, value) in vector)
            {
                if (!postings.TryGetValue(feature, out var list))
                    postings[feature] = list = [];
                list.Add((row, value));
            }
            row++;
        }
        Count = documents.Count;
    }

    public int Count { get; }

    /// <summary>Sparse L2-normalised feature vectors of texts.</summary>
    public IEnumerable<(int Feature, float Value)[]> Featurize(IReadOnlyList<string> texts)
    {
        var transformed = featurizer.Transform(mlContext.Data.LoadFromEnumerable(texts.Select(t => new TextRow { Text = t })));
        using var cursor = transformed.GetRowCursor([transformed.Schema["Features"]]);
        var getter = cursor.GetGetter<VBuffer<float>>(transformed.Schema["Features"]);
        VBuffer<float> vector = default;
        while (cursor.MoveNext())
        {
            getter(ref vector);
            var pairs = new List<(int, float)>();
            foreach (var pair in vector.Items())
                if (pair.Value != 0)
                    pairs.Add((pair.Key, pair.Value));
            yield return pairs.ToArray();
        }
    }

    /// <summary>Cosine of a featurized query with every document.</summary>
    public void Scores((int Feature, float Value)[] query, float[] scores)
    {
        foreach (var (feature, value) in query)
        {
            if (postings.TryGetValue(feature, out var list))
                foreach (var (row, v) in list)
                    scores[row] += value * v;
        }
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }
}
