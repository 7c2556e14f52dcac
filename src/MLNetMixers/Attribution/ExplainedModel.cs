using MLNetMixers.Encoding;
using MLNetMixers.Models;
using static TorchSharp.torch;

namespace MLNetMixers.Attribution;

/// <summary>What the network's raw outputs mean, which decides the attributed target.</summary>
internal enum ExplainedTask
{
    /// <summary>One logit [B, 1].</summary>
    Binary,

    /// <summary>K logits [B, K].</summary>
    Multiclass,

    /// <summary>One standardised output [B, 1]; prediction = mean + std * output.</summary>
    Regression,
}

/// <summary>
/// A fitted network with the encoding it reads: everything attribution needs, independent of how the model was trained
/// or loaded. The network must be in eval mode (no dropout).
/// </summary>
internal sealed class ExplainedModel
{
    public ExplainedModel(TabularModel network, Device device, ExplainedTask task, int classCount,
        IReadOnlyList<EncodedField> fields, int sequenceLength, double targetMean = 0, double targetStd = 1)
    {
        Network = network;
        Device = device;
        Task = task;
        ClassCount = classCount;
        Fields = fields;
        SequenceLength = sequenceLength;
        TargetMean = targetMean;
        TargetStd = targetStd;
    }

    public TabularModel Network { get; }

    public Device Device { get; }

    public ExplainedTask Task { get; }

    /// <summary>2 for binary, K for multiclass, 1 for regression.</summary>
    public int ClassCount { get; }

    public IReadOnlyList<EncodedField> Fields { get; }

    public int SequenceLength { get; }

    public double TargetMean { get; }

    public double TargetStd { get; }

    /// <summary>The class each row's outputs predict (0 for regression): [B, outputs] -> [B] int64.</summary>
    public Tensor PredictedClass(Tensor outputs) => Task switch
    {
        ExplainedTask.Binary => outputs[.., 0].gt(0).to(ScalarType.Int64),
        ExplainedTask.Multiclass => outputs.argmax(1),
        _ => zeros(outputs.shape[0], ScalarType.Int64, outputs.device),
    };

    /// <summary>
    /// The attributed scalar per row: the log-odds of the class, log p - log(1 - p), for binary (the logit, negated for
    /// class 0) and multiclass (z_c - logsumexp of the other logits: unlike one logit of a softmax it is well defined,
    /// and unlike the log-probability it does not flatten to 0 for confident predictions, where attributions would
    /// vanish); regression, the prediction in label units. [B, outputs], [B] -> [B].
    /// </summary>
    public Tensor Target(Tensor outputs, Tensor classes) => Task switch
    {
        ExplainedTask.Binary => outputs[.., 0] * (classes.to(outputs.dtype) * 2 - 1),
        ExplainedTask.Multiclass => MulticlassLogOdds(outputs, classes.unsqueeze(1)),
        _ => outputs[.., 0] * TargetStd + TargetMean,
    };

    private static Tensor MulticlassLogOdds(Tensor logits, Tensor classes)
    {
        var own = logits.gather(1, classes).squeeze(1);
        var excluded = full(classes.shape, float.NegativeInfinity, logits.dtype, logits.device);
        var others = logits.scatter(1, classes, excluded).logsumexp(1);
        return own - others;
    }
}
