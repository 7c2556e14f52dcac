using MLNetMixers.Encoding;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Models;

/// <summary>
/// The piecewise-linear embedding of value tokens (<see cref="NumberValueTokens"/>), added to their token embedding:
///   e[b, t] = PLE(token[b, t]) · W[t]
/// PLE maps a value token to its <see cref="NumberValueTokens.Bins"/> components and every other token to zeros; W has
/// one [bins, d] matrix per position, so each number field learns its own function of its value (a character position
/// holds the same field in every row).
/// </summary>
internal sealed class NumberValueEmbedding : Module<Tensor, Tensor>
{
    private readonly Parameter weights;

    public NumberValueEmbedding(int sequenceLength, int vocabularySize, int valueTokenStart, int width) : base(nameof(NumberValueEmbedding))
    {
        if (valueTokenStart < 0 || valueTokenStart + NumberValueTokens.Count > vocabularySize)
            throw new ArgumentOutOfRangeException(nameof(valueTokenStart), valueTokenStart,
                $"Value tokens take {NumberValueTokens.Count} ids from their start, inside a vocabulary of {vocabularySize}.");
        ValueTokenStart = valueTokenStart;
        weights = Parameter(randn(sequenceLength, NumberValueTokens.Bins, width) * (1.0 / Math.Sqrt(NumberValueTokens.Bins)));
        RegisterComponents();
    }

    /// <summary>The id of the first value token.</summary>
    public int ValueTokenStart { get; }

    /// <summary>[batch, T] token ids -> [batch, T, d].</summary>
    public override Tensor forward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var level = tokens - ValueTokenStart;
        var isValue = level.ge(0).logical_and(level.lt(NumberValueTokens.Count)).unsqueeze(-1).to(weights.dtype);
        // A value token's level as a point on the bin axis: bin + (step + 1/2) / steps. PLE_j(v) = clamp(v - j, 0, 1).
        var value = (level.to(weights.dtype) + 0.5) / NumberValueTokens.Steps;
        var bins = arange(NumberValueTokens.Bins, weights.dtype, weights.device);
        var encoded = (value.unsqueeze(-1) - bins).clamp(0, 1) * isValue;                                   // [B, T, bins]
        return encoded.transpose(0, 1).bmm(weights).transpose(0, 1).MoveToOuterDisposeScope();            // [B, T, d]
    }
}
