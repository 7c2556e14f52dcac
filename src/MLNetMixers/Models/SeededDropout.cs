using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Models;

/// <summary>
/// Inverted dropout, y = x · m / (1 − p) with m ~ Bernoulli(1 − p), whose noise comes from the generator the training
/// step gave this thread (<see cref="UseGenerator"/>), or from torch's default generator when none was given.
/// </summary>
/// <remarks>
/// Training computes a batch's shards on several threads at once (Training/DataParallelGradients.cs). Drawn from
/// torch's one process-wide generator, their masks would depend on which thread drew first, and a seeded run would not
/// repeat; each shard instead draws from a generator seeded by the run's seed, the step and its index. The
/// arithmetic is libtorch's own CPU dropout (empty_like(x).bernoulli_(1 − p), divided by 1 − p, times x), so with the
/// default generator it draws and computes exactly what <c>nn.Dropout</c> does.
/// </remarks>
internal sealed class SeededDropout : nn.Module<Tensor, Tensor>
{
    [ThreadStatic]
    private static Generator? threadGenerator;

    private readonly double probability;

    public SeededDropout(double probability) : base(nameof(SeededDropout))
    {
        if (probability is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "Dropout must be in [0, 1).");
        this.probability = probability;
    }

    public override Tensor forward(Tensor x)
    {
        if (!training || probability == 0)
            return x;
        using var keptShare = (1 - probability).ToScalar();
        var noise = empty_like(x).bernoulli_(1 - probability, threadGenerator).div_(keptShare);
        return x.mul(noise);
    }

    /// <summary>Makes dropout on this thread draw from <paramref name="generator"/> until the result is disposed.</summary>
    public static IDisposable UseGenerator(Generator generator)
    {
        var previous = threadGenerator;
        threadGenerator = generator;
        return new Restore(previous);
    }

    private sealed class Restore(Generator? previous) : IDisposable
    {
        public void Dispose() => threadGenerator = previous;
    }
}
