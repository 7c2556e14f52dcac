using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Training;

/// <summary>What a task trains against: the loss on a batch, and the validation metric (lower is better).</summary>
internal abstract class TaskObjective
{
    /// <summary>Width of the network's output.</summary>
    public abstract int Outputs { get; }

    /// <summary>float32 targets (binary 0/1, standardised regression) or int64 class indices.</summary>
    public virtual ScalarType TargetType => ScalarType.Float32;

    /// <summary>Mean training loss of a batch: outputs [B, Outputs], targets [B].</summary>
    public abstract Tensor Loss(Tensor outputs, Tensor targets);

    public abstract string ValidationMetricName { get; }

    /// <summary>The validation metric over all validation rows (no smoothing, no class weights).</summary>
    public abstract double ValidationMetric(Tensor outputs, Tensor targets);
}

/// <summary>Binary cross-entropy on one logit, with label smoothing and a positive-class weight.</summary>
internal sealed class BinaryObjective(double labelSmoothing, double positiveClassWeight) : TaskObjective
{
    public override int Outputs => 1;

    public override Tensor Loss(Tensor outputs, Tensor targets)
    {
        // Smoothing pulls 0/1 targets toward 1/2: y' = y (1 - eps) + eps / 2.
        var smoothed = targets;
        if (labelSmoothing > 0)
        {
            // Held Scalars: TorchSharp's temporary ones can be finalized mid-call (see AdamWOptimizer).
            using var keep = (1 - labelSmoothing).ToScalar();
            using var shift = (labelSmoothing / 2).ToScalar();
            smoothed = targets.mul(keep).add_(shift);
        }
        using var positiveWeight = positiveClassWeight != 1 ? tensor((float)positiveClassWeight, device: outputs.device) : null;
        return functional.binary_cross_entropy_with_logits(outputs.squeeze(1), smoothed, pos_weights: positiveWeight);
    }

    public override string ValidationMetricName => "LogLoss";

    public override double ValidationMetric(Tensor outputs, Tensor targets)
        => functional.binary_cross_entropy_with_logits(outputs.squeeze(1), targets).item<float>();
}

/// <summary>Cross-entropy over K logits, with label smoothing and optional class weights.</summary>
internal sealed class MulticlassObjective(int classes, double labelSmoothing, float[]? classWeights) : TaskObjective
{
    private Tensor? weights;

    public override int Outputs => classes;

    public override ScalarType TargetType => ScalarType.Int64;

    public override Tensor Loss(Tensor outputs, Tensor targets)
    {
        if (classWeights is not null && (weights is null || weights.device != outputs.device))
            weights = tensor(classWeights, device: outputs.device).DetachFromDisposeScope();
        return functional.cross_entropy(outputs, targets, weight: weights, label_smoothing: labelSmoothing);
    }

    public override string ValidationMetricName => "LogLoss";

    public override double ValidationMetric(Tensor outputs, Tensor targets)
        => functional.cross_entropy(outputs, targets).item<float>();
}

/// <summary>Mean squared error on standardised targets; validated as RMSE in the label's units.</summary>
internal sealed class RegressionObjective(double targetStd) : TaskObjective
{
    public override int Outputs => 1;

    public override Tensor Loss(Tensor outputs, Tensor targets) => functional.mse_loss(outputs.squeeze(1), targets);

    public override string ValidationMetricName => "RMSE";

    public override double ValidationMetric(Tensor outputs, Tensor targets)
        => Math.Sqrt(functional.mse_loss(outputs.squeeze(1), targets).item<float>()) * targetStd;
}
