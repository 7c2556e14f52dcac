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

    /// <summary>
    /// The training loss summed over some of a batch's rows: outputs [b, Outputs], targets [b]. The batch's loss is the
    /// sum over its shards divided by <see cref="LossDenominator"/> of the whole batch, which is what the mean reduction
    /// would give in one piece.
    /// </summary>
    public abstract Tensor LossSum(Tensor outputs, Tensor targets);

    /// <summary>What a batch's summed loss is divided by: its row count, or the sum of its rows' class weights.</summary>
    public virtual double LossDenominator(Tensor targets) => targets.shape[0];

    public abstract string ValidationMetricName { get; }

    /// <summary>The validation metric over all validation rows (no smoothing, no class weights).</summary>
    public abstract double ValidationMetric(Tensor outputs, Tensor targets);
}

/// <summary>Binary cross-entropy on one logit, with label smoothing and a positive-class weight.</summary>
internal sealed class BinaryObjective(double labelSmoothing, double positiveClassWeight) : TaskObjective
{
    public override int Outputs => 1;

    public override Tensor LossSum(Tensor outputs, Tensor targets)
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
        return functional.binary_cross_entropy_with_logits(outputs.squeeze(1), smoothed, pos_weights: positiveWeight, reduction: Reduction.Sum);
    }

    public override string ValidationMetricName => "LogLoss";

    public override double ValidationMetric(Tensor outputs, Tensor targets)
        => functional.binary_cross_entropy_with_logits(outputs.squeeze(1), targets).item<float>();
}

/// <summary>Cross-entropy over K logits, with label smoothing and optional class weights.</summary>
internal sealed class MulticlassObjective(int classes, double labelSmoothing, float[]? classWeights) : TaskObjective
{
    private readonly Lock weightsLock = new();
    private Tensor? weights;

    public override int Outputs => classes;

    public override ScalarType TargetType => ScalarType.Int64;

    public override Tensor LossSum(Tensor outputs, Tensor targets)
        => functional.cross_entropy(outputs, targets, weight: WeightsOn(outputs.device), reduction: Reduction.Sum, label_smoothing: labelSmoothing);

    /// <summary>The sum of the rows' class weights (what cross-entropy's mean reduction divides by).</summary>
    public override double LossDenominator(Tensor targets)
    {
        if (classWeights is null)
            return base.LossDenominator(targets);
        using var scope = NewDisposeScope();
        return WeightsOn(targets.device)!.index_select(0, targets).sum().item<float>();
    }

    /// <summary>The class weights on <paramref name="device"/>, made once (shards on other threads only read them).</summary>
    private Tensor? WeightsOn(Device device)
    {
        if (classWeights is null)
            return null;
        lock (weightsLock)
        {
            if (weights is null || weights.device != device)
                weights = tensor(classWeights, device: device).DetachFromDisposeScope();
            return weights;
        }
    }

    public override string ValidationMetricName => "LogLoss";

    public override double ValidationMetric(Tensor outputs, Tensor targets)
        => functional.cross_entropy(outputs, targets).item<float>();
}

/// <summary>Mean squared error on standardised targets; validated as RMSE in the label's units.</summary>
internal sealed class RegressionObjective(double targetStd) : TaskObjective
{
    public override int Outputs => 1;

    public override Tensor LossSum(Tensor outputs, Tensor targets) => functional.mse_loss(outputs.squeeze(1), targets, Reduction.Sum);

    public override string ValidationMetricName => "RMSE";

    public override double ValidationMetric(Tensor outputs, Tensor targets)
        => Math.Sqrt(functional.mse_loss(outputs.squeeze(1), targets).item<float>()) * targetStd;
}
