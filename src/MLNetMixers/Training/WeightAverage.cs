using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Training;

/// <summary>
/// An exponential moving average of the weights, updated after every optimizer step: a = δ·a + (1 - δ)·w with
/// δ = min(decay, (1 + n) / (10 + n)) after n updates, so that the average forgets its random start quickly on short
/// runs (Polyak averaging as in timm's ModelEmaV2 / TensorFlow's ExponentialMovingAverage with num_updates).
/// </summary>
internal sealed class WeightAverage : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly Tensor[] averages;
    private readonly double decay;
    private long updates;

    public WeightAverage(IReadOnlyList<Parameter> parameters, double decay)
    {
        this.parameters = parameters.ToArray();
        this.decay = decay;
        using var noGrad = no_grad();
        averages = this.parameters.Select(p => p.detach().clone().DetachFromDisposeScope()).ToArray();
    }

    public void Update()
    {
        double d = Math.Min(decay, (1.0 + updates) / (10.0 + updates));
        updates++;
        using var noGrad = no_grad();
        for (int i = 0; i < parameters.Length; i++)
            averages[i].mul_(d).add_(parameters[i], alpha: 1 - d);
    }

    /// <summary>Writes the averaged weights into <paramref name="target"/> (the same parameters, in the same order).</summary>
    public void CopyTo(IReadOnlyList<Parameter> target)
    {
        using var noGrad = no_grad();
        for (int i = 0; i < averages.Length; i++)
            target[i].copy_(averages[i]);
    }

    public void Dispose()
    {
        foreach (var a in averages)
            a.Dispose();
    }
}
