using System.Collections.Concurrent;
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
        // The models map every id from the first value token up onto it (TabularModel.Embed): value tokens must be the last ids.
        if (valueTokenStart < 0 || valueTokenStart + NumberValueTokens.Count != vocabularySize)
            throw new ArgumentOutOfRangeException(nameof(valueTokenStart), valueTokenStart,
                $"Value tokens take the last {NumberValueTokens.Count} ids of the vocabulary of {vocabularySize}.");
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
        // Scalars held for the calls (dotnet/TorchSharp#1434: a temporary one can be finalized mid-call; see SafeArithmetic).
        using var start = ((long)ValueTokenStart).ToScalar();
        using var zero = 0L.ToScalar();
        using var levels = ((long)NumberValueTokens.Count).ToScalar();
        var level = tokens.sub(start);
        var row = level.masked_fill(level.lt(zero).logical_or(level.ge(levels)), levels);  // every other token: the zero row
        var encoded = LevelEncodingsAs(weights.dtype, weights.device)
            .index_select(0, row.flatten()).view([.. tokens.shape, NumberValueTokens.Bins]);                  // [B, T, bins]
        return encoded.transpose(0, 1).bmm(weights).transpose(0, 1).MoveToOuterDisposeScope();            // [B, T, d]
    }

    /// <summary>
    /// PLE of every value level, [Count + 1, bins]: row l holds clamp(v - j, 0, 1) for bin j with v = (l + 1/2) / steps,
    /// a value token's level as a point on the bin axis; the last row is zeros.
    /// </summary>
    /// <remarks>
    /// A table looked up per token instead of the formula evaluated per token: fewer tiny operators, which is what a single
    /// row's pass pays for (benchmarks/results/Defaults.md#value-level-table). Every entry is a multiple of 1/16 in [0, 1], exact in float32 and
    /// bfloat16 alike, so the table gives what the formula gave bit for bit. Shared by every instance and never written;
    /// built outside any DisposeScope's reach and outside inference mode, so training may use it after scoring built it.
    /// </remarks>
    internal static readonly Lazy<Tensor> LevelEncodings = new(() =>
    {
        using var inference = inference_mode(false);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var half = 0.5.ToScalar();
        using var steps = ((double)NumberValueTokens.Steps).ToScalar();
        using var zero = 0.0.ToScalar();
        using var one = 1.0.ToScalar();
        var value = arange(NumberValueTokens.Count, ScalarType.Float32).add(half).div(steps);
        var levels = value.unsqueeze(-1).sub(arange(NumberValueTokens.Bins, ScalarType.Float32)).clamp(zero, one);
        return cat([levels, zeros(1, NumberValueTokens.Bins)]).DetachFromDisposeScope();
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly ConcurrentDictionary<(DeviceType Type, int Index, ScalarType DType), Tensor> LevelEncodingsByDevice = new();

    /// <summary>
    /// <see cref="LevelEncodings"/> in the network's number format and on its device, converted once per format and device:
    /// otherwise every forward pass of a bfloat16 or CUDA network would copy the table (to a GPU, a transfer per pass).
    /// </summary>
    internal static Tensor LevelEncodingsAs(ScalarType dtype, Device device)
    {
        if (dtype == ScalarType.Float32 && device.type == DeviceType.CPU)
            return LevelEncodings.Value;
        return LevelEncodingsByDevice.GetOrAdd((device.type, device.index, dtype), _ =>
        {
            using var inference = inference_mode(false);
            using var noGrad = no_grad();
            return LevelEncodings.Value.to(dtype, device, copy: true).DetachFromDisposeScope();
        });
    }
}
