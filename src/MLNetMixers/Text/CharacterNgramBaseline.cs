using MLNetMixers.Text;

namespace MLNetMixers;

/// <summary>
/// The reference every character language model has to beat: an add-k character n-gram count model. A neural model
/// that scores worse than the 4- or 5-gram of its own training text has learned less than counting does.
/// </summary>
public static class CharacterNgramBaseline
{
    /// <summary>
    /// Held-out loss in nats per character of an add-k n-gram model of <paramref name="order"/> counted on
    /// <paramref name="training"/>: the documents are packed as the language models see them (an end of text before
    /// and after each), every token but the first is predicted, so the figure is in the same unit as
    /// <see cref="MixerLanguageModelTransformer.Evaluate(Microsoft.ML.IDataView, string?)"/>'s loss of a character model.
    /// k is chosen on the last 10 % of the training text, never on the held-out documents.
    /// </summary>
    public static double HeldOutLoss(IEnumerable<string> training, IEnumerable<string> heldOut, int order)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(order, 1);
        var trainingDocuments = training.ToList();
        var heldOutDocuments = heldOut.ToList();
        if (trainingDocuments.Count == 0 || heldOutDocuments.Count == 0)
            throw new ArgumentException("The n-gram reference needs at least one training and one held-out document.");
        var tokenizer = CharacterTokenizer.Learn(trainingDocuments);
        int[] trainStream = LanguageModelTrainer.Pack(trainingDocuments, tokenizer);
        int[] heldOutStream = LanguageModelTrainer.Pack(heldOutDocuments, tokenizer);
        return HeldOutNats(trainStream, heldOutStream, tokenizer.VocabularySize, order).Nats / (heldOutStream.Length - 1);
    }

    /// <summary>
    /// Held-out nats (total) of an add-k model of the given order: k is chosen among a few values on the last 10 % of
    /// the training stream with counts from the first 90 %, then the counts are taken from the whole training stream.
    /// </summary>
    internal static (double Nats, double K) HeldOutNats(int[] train, int[] heldOut, int vocabulary, int order)
    {
        if (vocabulary >= 1 << 15)
            throw new ArgumentException($"The character vocabulary ({vocabulary}) is too large for the n-gram keys.");
        int cut = train.Length * 9 / 10;
        var tuningCounts = Count(train.AsSpan(0, cut), order);
        double bestK = new[] { 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0 }
            .MinBy(k => Nats(tuningCounts, train.AsSpan(cut), vocabulary, order, k));
        return (Nats(Count(train, order), heldOut, vocabulary, order, bestK), bestK);
    }

    private static (Dictionary<(long, int), int> Joint, Dictionary<long, int> Context) Count(ReadOnlySpan<int> stream, int order)
    {
        var joint = new Dictionary<(long, int), int>();
        var context = new Dictionary<long, int>();
        for (int i = order - 1; i < stream.Length; i++)
        {
            long key = ContextKey(stream, i, order);
            joint[(key, stream[i])] = joint.GetValueOrDefault((key, stream[i])) + 1;
            context[key] = context.GetValueOrDefault(key) + 1;
        }
        return (joint, context);
    }

    private static double Nats((Dictionary<(long, int), int> Joint, Dictionary<long, int> Context) counts, ReadOnlySpan<int> stream, int vocabulary, int order, double k)
    {
        double nats = 0;
        for (int i = 1; i < stream.Length; i++)   // every token but the first, as the language models predict
        {
            // The first positions of the held-out stream use the context available (shorter n-gram keys are disjoint from full ones).
            int available = Math.Min(order, i + 1);
            long key = ContextKey(stream, i, available);
            double joint = counts.Joint.GetValueOrDefault((key, stream[i]));
            double context = counts.Context.GetValueOrDefault(key);
            nats -= Math.Log((joint + k) / (context + k * vocabulary));
        }
        return nats;
    }

    /// <summary>The (order - 1) tokens before position i, packed 15 bits each (vocabularies below 32,768) with the order in the top bits.</summary>
    private static long ContextKey(ReadOnlySpan<int> stream, int i, int order)
    {
        long key = order;
        for (int j = i - order + 1; j < i; j++)
            key = key << 15 | (uint)stream[j];
        return key;
    }
}
