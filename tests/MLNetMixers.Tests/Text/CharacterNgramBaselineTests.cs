namespace MLNetMixers.Tests.Text;

/// <summary>The n-gram reference the language models are measured against: it must itself be a correct count model.</summary>
public class CharacterNgramBaselineTests
{
    [Fact]
    public void A_periodic_text_is_predicted_from_enough_context_and_not_from_less()
    {
        // "abcabc...": after two characters the next one is certain; one character of context is not enough to know
        // where the end of text falls, and no context at all leaves about log 4 nats.
        var documents = Enumerable.Range(0, 40).Select(i => string.Concat(Enumerable.Repeat("abc", 10 + i % 3))).ToArray();
        double unigram = CharacterNgramBaseline.HeldOutLoss(documents[..30], documents[30..], order: 1);
        double trigram = CharacterNgramBaseline.HeldOutLoss(documents[..30], documents[30..], order: 3);
        Assert.InRange(unigram, 1.0, 1.5);
        Assert.True(trigram < 0.25, $"trigram {trigram:F3} nats/char on a text of period 3");
    }

    [Fact]
    public void On_real_text_each_order_up_to_four_improves_on_the_one_before()
    {
        var train = TextTestHelpers.FortuneDocuments(1500);
        var heldOut = TextTestHelpers.FortuneDocuments(100, skip: 1500);
        var losses = Enumerable.Range(1, 4).Select(order => CharacterNgramBaseline.HeldOutLoss(train, heldOut, order)).ToArray();
        for (int i = 1; i < losses.Length; i++)
            Assert.True(losses[i] < losses[i - 1], $"orders 1-4: {string.Join(", ", losses.Select(l => l.ToString("F3")))}");
        Assert.InRange(losses[0], 2.8, 3.6);   // English letters with spaces and punctuation
    }

    [Fact]
    public void Empty_inputs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => CharacterNgramBaseline.HeldOutLoss([], ["a"], 2));
        Assert.Throws<ArgumentException>(() => CharacterNgramBaseline.HeldOutLoss(["a"], [], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => CharacterNgramBaseline.HeldOutLoss(["a"], ["a"], 0));
    }
}
