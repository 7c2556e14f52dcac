using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter, "Decoupled Weight Decay Regularization"), for every mixer trainer:
/// <code>
///   m = β1·m + (1-β1)·g                 v = β2·v + (1-β2)·g²
///   θ = θ·(1 - lr·λ) - lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + ε)
/// </code>
/// with the decay λ on matrices only (embeddings, linear and token-mixing weights), not on biases or LayerNorm gains,
/// as nanoGPT does.
/// </summary>
/// <remarks>
/// Written out here instead of using TorchSharp's <c>optim.AdamW</c> because TorchSharp 0.107 converts each step's
/// coefficients to temporary <see cref="Scalar"/>s whose native memory the garbage collector may finalize while libtorch
/// is still reading it (dotnet/TorchSharp#1434): with any other thread allocating, training failed within seconds with
/// "Unknown scalar type" or "toFloat: Expected false to be true" (tests/ConcurrentTrainingTests.cs). Every Scalar here
/// lives in a <c>using</c> that spans the native calls reading it.
/// </remarks>
internal sealed class AdamWOptimizer : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly bool[] decays;
    private readonly Tensor[] firstMoments;
    private readonly Tensor[] secondMoments;
    private readonly double weightDecay, beta1, beta2, epsilon;

    /// <param name="parameters">The weights to update; matrices (two or more dimensions) are decayed, the rest are not.</param>
    /// <param name="weightDecay">λ, the decoupled weight decay.</param>
    /// <param name="beta1">β1, the first moment's decay.</param>
    /// <param name="beta2">β2, the second moment's decay.</param>
    /// <param name="epsilon">ε, added to the denominator.</param>
    public AdamWOptimizer(IEnumerable<Parameter> parameters, double weightDecay, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        if (weightDecay < 0)
            throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be zero or positive.");
        this.parameters = parameters.ToArray();
        decays = this.parameters.Select(p => p.dim() >= 2).ToArray();
        using var noGrad = no_grad();
        firstMoments = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        secondMoments = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        this.weightDecay = weightDecay;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
    }

    /// <summary>Steps taken so far (t in the bias corrections).</summary>
    public long Steps { get; private set; }

    /// <summary>One update of every parameter that has a gradient, at learning rate <paramref name="learningRate"/>.</summary>
    public void Step(double learningRate)
    {
        Steps++;
        double correction1 = 1 - Math.Pow(beta1, Steps);
        double correction2 = 1 - Math.Pow(beta2, Steps);
        using var noGrad = no_grad();
        using var decayFactor = (1 - learningRate * weightDecay).ToScalar();
        using var firstDecay = beta1.ToScalar();
        using var firstWeight = (1 - beta1).ToScalar();
        using var secondDecay = beta2.ToScalar();
        using var secondWeight = (1 - beta2).ToScalar();
        using var rootCorrection2 = Math.Sqrt(correction2).ToScalar();
        using var eps = epsilon.ToScalar();
        using var one = 1.ToScalar();
        using var stepSize = (-learningRate / correction1).ToScalar();
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            if (p.grad is not { } gradient)
                continue;
            using var scope = NewDisposeScope();
            if (decays[i] && weightDecay > 0)
                p.mul_(decayFactor);
            firstMoments[i].mul_(firstDecay).add_(gradient, firstWeight);
            secondMoments[i].mul_(secondDecay).addcmul_(gradient, gradient, secondWeight);
            var denominator = secondMoments[i].sqrt().div_(rootCorrection2).add_(eps, one);  // add_(eps) would make a temporary alpha
            p.addcdiv_(firstMoments[i], denominator, stepSize);
        }
    }

    /// <summary>Writes the step count and both moments (for training checkpoints).</summary>
    public void Save(BinaryWriter writer)
    {
        writer.Write(Steps);
        writer.Write(parameters.Length);
        foreach (var moment in firstMoments.Concat(secondMoments))
            moment.Save(writer);
    }

    /// <summary>Reads what <see cref="Save"/> wrote, for the same parameters.</summary>
    public void Load(BinaryReader reader)
    {
        long steps = reader.ReadInt64();
        int count = reader.ReadInt32();
        if (count != parameters.Length)
            throw new InvalidDataException($"The optimizer state holds {count} parameters; this model has {parameters.Length}.");
        using var noGrad = no_grad();
        foreach (var moment in firstMoments.Concat(secondMoments))
            moment.Load(reader);
        Steps = steps;
    }

    public void Dispose()
    {
        foreach (var moment in firstMoments.Concat(secondMoments))
            moment.Dispose();
    }
}
