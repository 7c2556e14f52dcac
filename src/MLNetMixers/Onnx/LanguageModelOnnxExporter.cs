using MLNetMixers.Models;
using static TorchSharp.torch;

namespace MLNetMixers.Onnx;

/// <summary>
/// Writes a trained <see cref="LanguageModel"/> as two ONNX graphs of standard operators, the ONNX form of
/// <see cref="LanguageModel.Prefill"/> and <see cref="LanguageModel.Step"/>:
/// <list type="bullet">
/// <item><b>prefill</b>: <c>tokens</c> int64 [batch, T] (1 ≤ T ≤ n_ctx) -> <c>logits</c> [batch, T, V] and, per layer l,
/// the decoding state <c>state_l</c> (for attention <c>key_l</c> and <c>value_l</c>), each [batch, H, n_ctx, C] with the
/// prompt's rows first and zeros after them (the structured recurrent mixer: its recurrent state, [batch, H, 1, C]).</item>
/// <item><b>step</b>: <c>token</c> int64 [batch, 1], <c>position</c> int64 [1] (the token's position, = the number of
/// tokens before it) and the state -> <c>logits</c> [batch, V] and the state with row <c>position</c> written.</item>
/// </list>
/// The state is fixed-size (n_ctx rows) so the step graph has static shapes. Masked mixers keep the normed (projected)
/// inputs of every position, and their step multiplies one row of the lower-triangular matrix with them; a Toeplitz
/// mixer's matrix is written out as tril(toeplitz(v)) and decodes the same way. The structured recurrent mixer keeps one
/// vector per head instead (see <see cref="StructuredRecurrentExport"/>).
/// </summary>
internal static class LanguageModelOnnxExporter
{
    public static (byte[] Prefill, byte[] Step) Export(LanguageModel model)
    {
        var config = model.Config;
        var mixers = Enumerable.Range(0, config.Depth).Select(l => CausalMixerExport.For(model, l)).ToArray();
        var metadata = new Dictionary<string, string>
        {
            ["mlnetmixers.kind"] = "language_model",
            ["mlnetmixers.architecture"] = config.Architecture.ToString(),
            ["mlnetmixers.context_length"] = config.ContextLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["mlnetmixers.vocabulary_size"] = config.VocabularySize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["mlnetmixers.depth"] = config.Depth.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        return (Prefill(model, mixers).ToModel(metadata, "Prefill: a prompt's logits and the decoding state."),
                Step(model, mixers).ToModel(metadata, "One decoding step: a token at a position and the state -> the next logits and the state."));
    }

    private static OnnxGraph Prefill(LanguageModel model, CausalMixerExport[] mixers)
    {
        var config = model.Config;
        var graph = new OnnxGraph("mlnetmixers_lm_prefill");
        var net = new NetworkGraphWriter(graph, model);
        var tokens = graph.Input("tokens", OnnxElementType.Int64, "batch", "length");
        var length = graph.Op("Shape", [tokens], OnnxAttribute.Of("start", 1L), OnnxAttribute.Of("end", 2L)); // [T]
        var h = graph.Op("Gather", [net.Weight("tokenEmbedding.weight"), tokens], OnnxAttribute.Of("axis", 0L));
        if (net.Has("positionEmbedding")) // Llama has none: its attention rotates by position
            h = net.Add(h, graph.Op("Slice", [net.Weight("positionEmbedding"), graph.Int64s(0), length, graph.Int64s(0)]));
        // Rows after the prompt: the state is padded to n_ctx along its time axis.
        var padding = graph.Op("Concat", [graph.Int64s(0, 0, 0, 0, 0, 0), graph.Op("Sub", [graph.Int64s(config.ContextLength), length]), graph.Int64s(0)],
                               OnnxAttribute.Of("axis", 0L));
        for (int l = 0; l < config.Depth; l++)
        {
            h = ChannelMlpBefore(net, mixers[l], h, l);
            var (mixed, states) = mixers[l].Prefill(net, mixers[l].TokenNorm(net, h, l), length);
            h = ChannelMlpAfter(net, mixers[l], net.Add(h, mixed), l);
            for (int s = 0; s < states.Length; s++)
            {
                var state = mixers[l].StateRowsPerPosition ? graph.Op("Pad", [states[s], padding]) : states[s];
                graph.Output(state, mixers[l].StateNames[s], OnnxElementType.Float, mixers[l].StateShape("batch"));
            }
        }
        graph.Output(net.Linear(FinalNorm(net, h), "head"), "logits", OnnxElementType.Float, "batch", "length", (long)config.VocabularySize);
        return graph;
    }

    private static OnnxGraph Step(LanguageModel model, CausalMixerExport[] mixers)
    {
        var config = model.Config;
        var graph = new OnnxGraph("mlnetmixers_lm_step");
        var net = new NetworkGraphWriter(graph, model);
        var token = graph.Input("token", OnnxElementType.Int64, "batch", 1L);
        var position = graph.Input("position", OnnxElementType.Int64, 1L);
        var inputStates = mixers.Select(m => m.StateNames.Select(name => graph.Input(name, OnnxElementType.Float, m.StateShape("batch"))).ToArray()).ToArray();
        var h = graph.Op("Gather", [net.Weight("tokenEmbedding.weight"), token], OnnxAttribute.Of("axis", 0L));
        if (net.Has("positionEmbedding"))
            h = net.Add(h, graph.Op("Gather", [net.Weight("positionEmbedding"), position], OnnxAttribute.Of("axis", 0L)));
        // [n_ctx, 1]: 1 at the token's position; writes the new row into the state.
        var rows = graph.Int64s(Enumerable.Range(0, config.ContextLength).Select(i => (long)i).ToArray(), config.ContextLength, 1);
        var here = graph.Op("Cast", [graph.Op("Equal", [rows, position])], OnnxAttribute.Of("to", (long)OnnxElementType.Float));
        var step = new StepContext(position, here, graph.Op("Sub", [graph.FloatScalar(1f), here]), rows);
        for (int l = 0; l < config.Depth; l++)
        {
            h = ChannelMlpBefore(net, mixers[l], h, l);
            var (mixed, states) = mixers[l].Step(net, mixers[l].TokenNorm(net, h, l), inputStates[l], step);
            h = ChannelMlpAfter(net, mixers[l], net.Add(h, mixed), l);
            for (int s = 0; s < states.Length; s++)
                graph.Output(states[s], mixers[l].StateNames[s] + "_out", OnnxElementType.Float, mixers[l].StateShape("batch"));
        }
        var logits = net.Linear(FinalNorm(net, h), "head");
        graph.Output(graph.Op("Squeeze", [logits, graph.Int64s(1)]), "logits", OnnxElementType.Float, "batch", (long)config.VocabularySize);
        return graph;
    }

    /// <summary>The block's channel-MLP residual when it runs before token mixing (MixerBlock's channelMlpFirst), else h.</summary>
    private static string ChannelMlpBefore(NetworkGraphWriter net, CausalMixerExport mixer, string h, int layer)
        => mixer.ChannelMlpFirst ? net.Add(h, mixer.ChannelMlp(net, h, layer)) : h;

    /// <summary>The block's channel-MLP residual when it runs after token mixing (the default order), else h.</summary>
    private static string ChannelMlpAfter(NetworkGraphWriter net, CausalMixerExport mixer, string h, int layer)
        => mixer.ChannelMlpFirst ? h : net.Add(h, mixer.ChannelMlp(net, h, layer));

    /// <summary>The norm before the head: LayerNorm, or Llama's RMSNorm.</summary>
    private static string FinalNorm(NetworkGraphWriter net, string h)
        => net.Has("finalRmsNorm.weight") ? net.RmsNorm(h, "finalRmsNorm") : net.LayerNorm(h, "finalNorm");
}

/// <summary>What every layer's step needs: the position, a [n_ctx, 1] one-hot of it and its complement, and 0..n_ctx-1.</summary>
internal sealed record StepContext(string Position, string Here, string Elsewhere, string Rows);

/// <summary>
/// One layer's causal token mixer in ONNX: the prefill mixing (also returning the state rows it produced) and the
/// one-token step. One subclass per kind of state: rows mixed by a lower-triangular matrix (masked and Toeplitz mixers)
/// and keys and values (attention), and the structured recurrent mixer's hidden state (one vector per head, no
/// per-position rows).
/// </summary>
internal abstract class CausalMixerExport
{
    protected CausalMixerExport(string prefix, int layer, int contextLength, int heads, int headWidth, string[] stateNames)
    {
        Prefix = prefix;
        ContextLength = contextLength;
        Heads = heads;
        HeadWidth = headWidth;
        StateNames = stateNames.Select(s => $"{s}_{layer}").ToArray();
    }

    protected string Prefix { get; }

    protected int ContextLength { get; }

    protected int Heads { get; }

    protected int HeadWidth { get; }

    /// <summary>The layer's state tensors' names (inputs of the step graph; its outputs add "_out").</summary>
    public string[] StateNames { get; }

    /// <summary>True when the state keeps one row per position (padded to n_ctx after the prefill); false for a recurrent state.</summary>
    public virtual bool StateRowsPerPosition => true;

    /// <summary>True when the block runs its channel MLP before token mixing (the structured recurrent mixer's order).</summary>
    public virtual bool ChannelMlpFirst => false;

    public virtual object[] StateShape(string batch) => [batch, (long)Heads, (long)ContextLength, (long)HeadWidth];

    /// <summary>The block's norm before token mixing (MixerBlock's LayerNorm; Llama's RMSNorm).</summary>
    public virtual string TokenNorm(NetworkGraphWriter net, string h, int layer) => net.LayerNorm(h, $"blocks.{layer}.tokenNorm");

    /// <summary>The block's channel MLP without its residual (MixerBlock's GELU MLP; Llama's SwiGLU).</summary>
    public virtual string ChannelMlp(NetworkGraphWriter net, string h, int layer) => net.ChannelMlp(h, $"blocks.{layer}");

    /// <summary>Mixing of the normed inputs [B, T, d] -> ([B, T, d], the state rows [B, H, T, C] before padding, or the recurrent state).</summary>
    public abstract (string Mixed, string[] States) Prefill(NetworkGraphWriter net, string normed, string length);

    /// <summary>Mixing of one normed row [B, 1, d] -> ([B, 1, d], the updated states [B, H, n_ctx, C]).</summary>
    public abstract (string Mixed, string[] States) Step(NetworkGraphWriter net, string normedRow, string[] states, StepContext step);

    public static CausalMixerExport For(LanguageModel model, int layer)
    {
        var c = model.Config;
        string prefix = $"blocks.{layer}.tokenMixing";
        return c.Architecture switch
        {
            MixerLanguageModelArchitecture.MaskedMixer => new TriangularMixerExport(prefix, layer, c, MaskedMatrices(model, prefix, c)),
            MixerLanguageModelArchitecture.ToeplitzMixer => new TriangularMixerExport(prefix, layer, c, ToeplitzMatrices(model, prefix, c)),
            MixerLanguageModelArchitecture.Transformer => new AttentionExport(prefix, layer, c),
            MixerLanguageModelArchitecture.StructuredRecurrentMixer => StructuredRecurrentExport.Of(model, prefix, layer, c),
            MixerLanguageModelArchitecture.LlamaTransformer => new RotaryAttentionExport($"blocks.{layer}.attention", layer, c),
            // A new token mixer gets its export here.
            _ => throw new NotSupportedException($"ONNX export of {c.Architecture} language models is not written yet."),
        };
    }

    /// <summary>tril(W) as [H, n, n] (one head: [1, n, n]).</summary>
    private static float[] MaskedMatrices(LanguageModel model, string prefix, LanguageModelConfig c)
    {
        var (values, shape) = Read(model, prefix + ".weight");
        int n = c.ContextLength, heads = shape.Length == 2 ? 1 : (int)shape[0];
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < n; i++)
                Array.Clear(values, (h * n + i) * n + i + 1, n - i - 1);
        }
        return values;
    }

    /// <summary>tril(toeplitz(v)) per head: M[h, i, j] = v[h, i - j] for j ≤ i.</summary>
    private static float[] ToeplitzMatrices(LanguageModel model, string prefix, LanguageModelConfig c)
    {
        var (kernel, shape) = Read(model, prefix + ".kernel");
        int n = c.ContextLength, heads = (int)shape[0];
        var values = new float[heads * n * n];
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j <= i; j++)
                    values[(h * n + i) * n + j] = kernel[h * n + i - j];
            }
        }
        return values;
    }

    internal static (float[] Values, long[] Shape) Read(LanguageModel model, string name)
        => new NetworkGraphWriter(new OnnxGraph("read"), model).Read(name);
}

/// <summary>
/// Masked and Toeplitz mixing: y_i = Σ_{j≤i} M[h, i, j] x_j + b[h, i] per head, with optional input and output
/// projections (multi-head). State: the (projected) normed inputs x_j of every position so far.
/// </summary>
internal sealed class TriangularMixerExport : CausalMixerExport
{
    private readonly float[] matrices;
    private readonly bool projected;

    public TriangularMixerExport(string prefix, int layer, LanguageModelConfig c, float[] matrices)
        : base(prefix, layer, c.ContextLength, matrices.Length / (c.ContextLength * c.ContextLength),
               c.Width / (matrices.Length / (c.ContextLength * c.ContextLength)), ["state"])
    {
        this.matrices = matrices;
        projected = Heads > 1;
    }

    private string Matrices(NetworkGraphWriter net) => net.Graph.Weight(Prefix + ".matrix", matrices, Heads, ContextLength, ContextLength);

    /// <summary>[H, n, 1] whatever the module stores (one head keeps [n, 1]).</summary>
    private string Bias(NetworkGraphWriter net)
    {
        var (values, _) = net.Read(Prefix + ".bias");
        return net.Graph.Weight(Prefix + ".bias", values, Heads, ContextLength, 1);
    }

    /// <summary>[B, T, d] -> [B, H, T, C].</summary>
    private string ToHeads(NetworkGraphWriter net, string x) => projected
        ? net.SplitHeads(x, Prefix + ".inProjection", Heads, HeadWidth)
        : net.Graph.Op("Unsqueeze", [x, net.Graph.Int64s(1)]);

    /// <summary>[B, H, T, C] -> [B, T, d].</summary>
    private string FromHeads(NetworkGraphWriter net, string x) => projected
        ? net.MergeHeads(x, Prefix + ".outProjection", (long)Heads * HeadWidth)
        : net.Graph.Op("Squeeze", [x, net.Graph.Int64s(1)]);

    public override (string Mixed, string[] States) Prefill(NetworkGraphWriter net, string normed, string length)
    {
        var graph = net.Graph;
        var perHead = ToHeads(net, normed);
        var corner = graph.Op("Slice", [Matrices(net), graph.Int64s(0, 0), graph.Op("Concat", [length, length], OnnxAttribute.Of("axis", 0L)), graph.Int64s(1, 2)]);
        var bias = graph.Op("Slice", [Bias(net), graph.Int64s(0), length, graph.Int64s(1)]);
        var mixed = net.Add(graph.Op("MatMul", [corner, perHead]), bias);
        return (FromHeads(net, mixed), [perHead]);
    }

    public override (string Mixed, string[] States) Step(NetworkGraphWriter net, string normedRow, string[] states, StepContext step)
    {
        var graph = net.Graph;
        var row = ToHeads(net, normedRow); // [B, H, 1, C]
        var state = net.Add(graph.Op("Mul", [states[0], step.Elsewhere]), graph.Op("Mul", [row, step.Here]));
        var matrixRow = graph.Op("Gather", [Matrices(net), step.Position], OnnxAttribute.Of("axis", 1L)); // [H, 1, n]
        var bias = graph.Op("Gather", [Bias(net), step.Position], OnnxAttribute.Of("axis", 1L));          // [H, 1, 1]
        return (FromHeads(net, net.Add(graph.Op("MatMul", [matrixRow, state]), bias)), [state]);
    }
}

/// <summary>Causal self-attention (the transformer baseline). State: every position's keys and values.</summary>
internal class AttentionExport : CausalMixerExport
{
    private readonly int width;

    public AttentionExport(string prefix, int layer, LanguageModelConfig c)
        : base(prefix, layer, c.ContextLength, c.Heads, c.Width / c.Heads, ["key", "value"]) => width = c.Width;

    /// <summary>Query, key and value [B, H, T, C] of the prompt (<paramref name="length"/> set) or of one step's row (<paramref name="step"/> set).</summary>
    protected virtual string[] Project(NetworkGraphWriter net, string x, string? length, StepContext? step) => net.QueryKeyValue(x, Prefix, Heads, HeadWidth);

    private string Attend(NetworkGraphWriter net, string q, string k, string v, string mask) => net.Attend(q, k, v, mask, Prefix, HeadWidth, width);

    public override (string Mixed, string[] States) Prefill(NetworkGraphWriter net, string normed, string length)
    {
        var graph = net.Graph;
        var qkv = Project(net, normed, length, null);
        int n = ContextLength;
        var future = new float[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
                future[i * n + j] = float.NegativeInfinity;
        }
        var mask = graph.Op("Slice", [graph.Weight(Prefix + ".causal_mask", future, n, n), graph.Int64s(0, 0),
                                      graph.Op("Concat", [length, length], OnnxAttribute.Of("axis", 0L)), graph.Int64s(0, 1)]);
        return (Attend(net, qkv[0], qkv[1], qkv[2], mask), [qkv[1], qkv[2]]);
    }

    public override (string Mixed, string[] States) Step(NetworkGraphWriter net, string normedRow, string[] states, StepContext step)
    {
        var graph = net.Graph;
        var qkv = Project(net, normedRow, null, step);
        var keys = net.Add(graph.Op("Mul", [states[0], step.Elsewhere]), graph.Op("Mul", [qkv[1], step.Here]));
        var values = net.Add(graph.Op("Mul", [states[1], step.Elsewhere]), graph.Op("Mul", [qkv[2], step.Here]));
        // Positions after this one hold zeros: -inf keeps them out of the softmax. [n, 1] -> [1, n].
        var later = graph.Op("Greater", [step.Rows, step.Position]);
        var mask = net.Transpose(graph.Op("Where", [later, graph.FloatScalar(float.NegativeInfinity), graph.FloatScalar(0f)]), 1, 0);
        return (Attend(net, qkv[0], keys, values, mask), [keys, values]);
    }
}

/// <summary>
/// A Llama block's rotary causal self-attention (<see cref="RotaryCausalSelfAttention"/>) with the block's RMSNorm and
/// SwiGLU MLP. Queries and keys are rotated at their absolute positions (the prompt's 0..T-1, the step's input
/// <c>position</c>) before attention, so the key cache holds rotated keys as TorchSharp's does. The rotation of the pairs
/// (a, b) = (x_i, x_{i+C/2}) is x ⊙ [cos, cos] + (x · P) ⊙ [-sin, sin], P the [C, C] permutation that swaps the halves:
/// one MatMul and element-wise products instead of slicing.
/// </summary>
internal sealed class RotaryAttentionExport : AttentionExport
{
    private readonly float[] cos;   // [n_ctx, C]: cos(t θ_i) for both halves
    private readonly float[] sin;   // [n_ctx, C]: -sin(t θ_i) for the first half, sin for the second
    private readonly float[] swap;  // [C, C]: x · swap = [x_{C/2..}, x_{..C/2}]

    public RotaryAttentionExport(string prefix, int layer, LanguageModelConfig c) : base(prefix, layer, c)
    {
        int n = ContextLength, half = HeadWidth / 2;
        // The module's own tables, so the exported angles are the float32 values TorchSharp rotates with.
        using var scope = NewDisposeScope();
        var (cosTable, sinTable) = RotaryCausalSelfAttention.Angles(0, n, HeadWidth, CPU, ScalarType.Float32);
        float[] c0 = cosTable.contiguous().data<float>().ToArray(), s0 = sinTable.contiguous().data<float>().ToArray();
        cos = new float[n * HeadWidth];
        sin = new float[n * HeadWidth];
        for (int t = 0; t < n; t++)
        {
            for (int i = 0; i < half; i++)
            {
                cos[t * HeadWidth + i] = cos[t * HeadWidth + half + i] = c0[t * half + i];
                sin[t * HeadWidth + i] = -s0[t * half + i];
                sin[t * HeadWidth + half + i] = s0[t * half + i];
            }
        }
        swap = new float[HeadWidth * HeadWidth];
        for (int j = 0; j < HeadWidth; j++)
            swap[(j < half ? j + half : j - half) * HeadWidth + j] = 1f;
    }

    public override string TokenNorm(NetworkGraphWriter net, string h, int layer) => net.RmsNorm(h, $"blocks.{layer}.attentionNorm");

    /// <summary>SwiGLU: down(SiLU(gate(n)) ⊙ up(n)), n = RMSNorm(h).</summary>
    public override string ChannelMlp(NetworkGraphWriter net, string h, int layer)
    {
        string block = $"blocks.{layer}";
        var normed = net.RmsNorm(h, $"{block}.mlpNorm");
        var gate = net.Linear(normed, $"{block}.gate");
        var silu = net.Graph.Op("Mul", [gate, net.Graph.Op("Sigmoid", [gate])]);
        return net.Linear(net.Graph.Op("Mul", [silu, net.Linear(normed, $"{block}.up")]), $"{block}.down");
    }

    protected override string[] Project(NetworkGraphWriter net, string x, string? length, StepContext? step)
    {
        var graph = net.Graph;
        var qkv = base.Project(net, x, length, step);
        var cosTable = graph.Weight(Prefix + ".rotary_cos", cos, ContextLength, HeadWidth);
        var sinTable = graph.Weight(Prefix + ".rotary_sin", sin, ContextLength, HeadWidth);
        // [T, C] for the prompt's positions 0..T-1, [1, C] for the step's position: broadcast over [B, H, T, C].
        string At(string table) => length is not null
            ? graph.Op("Slice", [table, graph.Int64s(0), length, graph.Int64s(0)])
            : graph.Op("Gather", [table, step!.Position], OnnxAttribute.Of("axis", 0L));
        string c = At(cosTable), s = At(sinTable), p = graph.Weight(Prefix + ".rotary_swap", swap, HeadWidth, HeadWidth);
        string Rotate(string v) => net.Add(graph.Op("Mul", [v, c]), graph.Op("Mul", [graph.Op("MatMul", [v, p]), s]));
        return [Rotate(qkv[0]), Rotate(qkv[1]), qkv[2]];
    }
}

/// <summary>
/// The structured recurrent mixer: M[h, t, i] = g_t λ^(t-i) a_i per head (see StructuredRecurrentTokenMixing), between
/// its in and out projections. The prefill multiplies the dense matrices, computed from the weights at export time; its
/// state is the recurrence's after the prompt, s = Σ_{i≤T-1} λ^(T-1-i) a_i x_i (row T-1 of the decay-times-a matrix).
/// The step updates s = λ s + a_t x_t and outputs g_t s + b_t. State: [B, H, 1, C], whatever the position.
/// </summary>
internal sealed class StructuredRecurrentExport : CausalMixerExport
{
    private readonly float[] matrices;   // g_t λ^(t-i) a_i, [H, n, n]
    private readonly float[] decayRows;  // λ^(t-i) a_i, [H, n, n]: row t gives the state after position t
    private readonly float[] input;      // a, [H, n, 1]
    private readonly float[] output;     // g, [H, n, 1]
    private readonly float[] lambda;     // λ, [H, 1, 1]

    private StructuredRecurrentExport(string prefix, int layer, LanguageModelConfig c, float[] matrices, float[] decayRows,
                                      float[] input, float[] output, float[] lambda)
        : base(prefix, layer, c.ContextLength, lambda.Length, c.Width / lambda.Length, ["state"])
    {
        this.matrices = matrices;
        this.decayRows = decayRows;
        this.input = input;
        this.output = output;
        this.lambda = lambda;
    }

    public override bool StateRowsPerPosition => false;

    public override bool ChannelMlpFirst => true;

    public override object[] StateShape(string batch) => [batch, (long)Heads, 1L, (long)HeadWidth];

    public static StructuredRecurrentExport Of(LanguageModel model, string prefix, int layer, LanguageModelConfig c)
    {
        var (w, shape) = Read(model, prefix + ".weight");
        var (gamma, _) = Read(model, prefix + ".decay");
        int heads = (int)shape[0], n = c.ContextLength, columnHeads = (heads + 1) / 2;
        // The module's decay: λ = clip(γ̃, 0.9, 1)^(1/c), c = max(1, S/512); computed as exp(c⁻¹ log γ) as it does.
        double exponent = 1.0 / Math.Max(1.0, n / 512.0);
        var logLambda = gamma.Select(x => (float)(Math.Log(Math.Clamp(x, 0.9f, 1.0f)) * exponent)).ToArray();
        var input = new float[heads * n];
        var output = new float[heads * n];
        var matrices = new float[heads * n * n];
        var decayRows = new float[heads * n * n];
        for (int h = 0; h < heads; h++)
        {
            for (int t = 0; t < n; t++)
            {
                bool column = h < columnHeads; // column-repeat heads: g = w, a = 1; row-repeat heads: g = 1, a = w
                output[h * n + t] = column ? w[h * n + t] : 1f;
                input[h * n + t] = column ? 1f : w[h * n + t];
            }
            for (int t = 0; t < n; t++)
            {
                for (int i = 0; i <= t; i++)
                {
                    float decayed = MathF.Exp(logLambda[h] * (t - i)) * input[h * n + i];
                    decayRows[(h * n + t) * n + i] = decayed;
                    matrices[(h * n + t) * n + i] = output[h * n + t] * decayed;
                }
            }
        }
        return new StructuredRecurrentExport(prefix, layer, c, matrices, decayRows, input, output, logLambda.Select(MathF.Exp).ToArray());
    }

    private string PerPosition(NetworkGraphWriter net, string name, float[] values) => net.Graph.Weight(Prefix + name, values, Heads, ContextLength, 1);

    public override (string Mixed, string[] States) Prefill(NetworkGraphWriter net, string normed, string length)
    {
        var graph = net.Graph;
        var perHead = net.SplitHeads(normed, Prefix + ".inProjection", Heads, HeadWidth); // [B, H, T, C]
        var square = graph.Op("Concat", [length, length], OnnxAttribute.Of("axis", 0L));
        var corner = graph.Op("Slice", [graph.Weight(Prefix + ".matrix", matrices, Heads, ContextLength, ContextLength), graph.Int64s(0, 0), square, graph.Int64s(1, 2)]);
        var bias = graph.Op("Slice", [PerPosition(net, ".bias", net.Read(Prefix + ".bias").Values), graph.Int64s(0), length, graph.Int64s(1)]);
        var mixed = net.Add(graph.Op("MatMul", [corner, perHead]), bias);
        // Row T-1 of λ^(t-i) a_i, its first T columns: [H, 1, T] · [B, H, T, C] -> [B, H, 1, C].
        var last = graph.Op("Sub", [length, graph.Int64s(1)]);
        var lastRow = graph.Op("Gather", [graph.Weight(Prefix + ".decay_rows", decayRows, Heads, ContextLength, ContextLength), last], OnnxAttribute.Of("axis", 1L));
        lastRow = graph.Op("Slice", [lastRow, graph.Int64s(0), length, graph.Int64s(2)]);
        var state = graph.Op("MatMul", [lastRow, perHead]);
        return (net.MergeHeads(mixed, Prefix + ".outProjection", (long)Heads * HeadWidth), [state]);
    }

    public override (string Mixed, string[] States) Step(NetworkGraphWriter net, string normedRow, string[] states, StepContext step)
    {
        var graph = net.Graph;
        var x = net.SplitHeads(normedRow, Prefix + ".inProjection", Heads, HeadWidth); // [B, H, 1, C]
        string At(string name, float[] values) => graph.Op("Gather", [PerPosition(net, name, values), step.Position], OnnxAttribute.Of("axis", 1L)); // [H, 1, 1]
        var decayed = graph.Op("Mul", [states[0], graph.Weight(Prefix + ".lambda", lambda, Heads, 1, 1)]);
        var state = net.Add(decayed, graph.Op("Mul", [x, At(".input", input)]));
        var y = net.Add(graph.Op("Mul", [state, At(".output", output)]), At(".bias", net.Read(Prefix + ".bias").Values));
        return (net.MergeHeads(y, Prefix + ".outProjection", (long)Heads * HeadWidth), [state]);
    }
}
