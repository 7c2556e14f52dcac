using MLNetMixers.Models;
using MLNetMixers.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetMixers.Benchmarks;

/// <summary>A benchmark model shape and its matmul FLOPs.</summary>
/// <remarks>
/// Model FLOPs count only the matmuls, 2·m·n·k each, for one forward pass, then x3 for forward + backward
/// (the backward pass does two matmuls of the same size per forward matmul: dX and dW). Per sample:
///   per block: token mixing 2·T²·d  +  channel MLP 2 · (2·T·d·(r·d))  =  2·T²·d + 4·r·T·d²
///   head:      tabular 2·(T·d)·outputs (flatten head);  LM 2·T·d·V (every position predicts)
///   step = 3 · B · (L · block + head)
/// Embedding look-ups, LayerNorm, GELU, the loss and AdamW are not counted (they are what utilisation loses).
/// </remarks>
internal sealed record ModelShape(string Name, bool Causal, int Batch, int SequenceLength, int Width, int Depth, int MlpRatio, int VocabularySize, int Outputs)
{
    public static readonly ModelShape Tabular = new("tabular", false, 256, 64, 64, 4, 4, 40, 2);
    public static readonly ModelShape LanguageModel = new("LM", true, 16, 256, 256, 4, 4, 256, 256);

    public ModelShape Tiny() => this with { Batch = 2, SequenceLength = 8, Width = 8, Depth = 1 };

    public double StepFlops
    {
        get
        {
            double t = SequenceLength, d = Width;
            double block = 2 * t * t * d + 4 * MlpRatio * t * d * d;
            double head = Causal ? 2 * t * d * VocabularySize : 2 * t * d * Outputs;
            return 3 * Batch * (Depth * block + head);
        }
    }

    public string Describe() => $"T={SequenceLength} d={Width} L={Depth} r={MlpRatio} B={Batch}" + (Causal ? $" V={VocabularySize} causal" : $" V={VocabularySize} outputs={Outputs}");

    /// <summary>The library's own model of this shape: the flat masked-mixer language model, or the tabular mixer.</summary>
    public Module<Tensor, Tensor> CreateModel(double dropout = 0.0) => Causal
        ? new LanguageModel(new LanguageModelConfig(MixerLanguageModelArchitecture.MaskedMixer, VocabularySize, SequenceLength, Width, Depth, Heads: 1, MlpRatio, dropout))
        : new TabularMixer(new TabularModelConfig(TabularArchitecture.Mixer, SequenceLength, VocabularySize, Outputs, Width, Depth, MlpRatio, Heads: 1, dropout));
}

/// <summary>
/// A bare TorchSharp training loop: tokens already in a tensor, AdamW, cross-entropy; float32 or bfloat16
/// (<see cref="BFloat16Training"/>). What the trainers' throughput is compared against. On the CPU its step is the
/// trainers' own: the batch's gradient summed over shards that worker threads, one per torch thread, take in turn
/// (<see cref="DataParallelGradients"/>; <c>shardsPerThread</c> 1 gives the step before shards were taken in turn);
/// <c>onePiece</c> runs one forward and backward over the whole batch on libtorch's own threads instead, for comparison.
/// </summary>
internal sealed class BareTrainer : IDisposable
{
    private readonly Module<Tensor, Tensor> model;
    private readonly TrainingStep step;
    private readonly bool onePiece;
    private readonly double learningRate;
    private readonly bool causal;
    private readonly Random noiseSeeds;

    public BareTrainer(ModelShape shape, bool bfloat16, int seed, double learningRate = 1e-3, double dropout = 0.0, Module<Tensor, Tensor>? model = null,
                       Device? device = null, bool onePiece = false, int shardsPerThread = DataParallelGradients.DefaultShardsPerThread)
    {
        random.manual_seed(seed);
        this.model = model ?? shape.CreateModel(dropout);
        if (device is not null)
            this.model.to(device);
        this.model.train();
        causal = shape.Causal;
        // The trainers' own step; a one-piece step (or one on a GPU) computes the gradient here instead.
        step = new TrainingStep(this.model, bfloat16 ? MixerPrecision.BFloat16 : MixerPrecision.Float32, weightDecay: 0.01, gradientClipNorm: 1.0,
                                device ?? CPU, shape.Causal ? 1 : DataParallelGradients.TabularRowsPerShard, shardsPerThread);
        this.onePiece = onePiece || (device ?? CPU).type != DeviceType.CPU;
        this.learningRate = learningRate;
        noiseSeeds = new Random(seed);
    }

    public Module<Tensor, Tensor> Model => model;

    /// <summary>Seconds each thread of the last step spent on its shards; empty for a one-piece step.</summary>
    public IReadOnlyList<double> LastThreadSeconds => onePiece ? [] : step.Gradients.LastThreadSeconds;

    /// <summary>Shards a batch of <paramref name="rows"/> rows is cut into (1 for a one-piece step).</summary>
    public int ShardCount(long rows) => onePiece ? 1 : step.Gradients.ShardCount(rows);

    /// <summary>One optimisation step; returns the loss.</summary>
    public float Step(Tensor tokens, Tensor targets)
    {
        using var scope = NewDisposeScope();
        if (!onePiece)
            return step.Run((x, y) => LossSum(model.forward(x), y), tokens, targets, targets.numel(), (ulong)noiseSeeds.NextInt64(), learningRate);
        model.zero_grad();
        var mean = LossSum(model.forward(tokens), targets) / targets.numel();
        mean.backward();
        step.BFloat16?.CopyGradientsToMaster();
        step.Update(learningRate);
        return mean.item<float>();
    }

    private Tensor LossSum(Tensor output, Tensor targets)
    {
        output = output.to(ScalarType.Float32);
        return causal
            ? functional.cross_entropy(output.view(-1, output.shape[^1]), targets.reshape(-1), reduction: Reduction.Sum)
            : functional.cross_entropy(output, targets, reduction: Reduction.Sum);
    }

    /// <summary>
    /// Seconds per step in steady state: the median of <paramref name="steps"/> steps after as many untimed ones (the
    /// heap of a thread that has not trained yet grows over its first steps, as in ModelStep's untimed rounds).
    /// </summary>
    public double SteadyStepSeconds(Tensor tokens, Tensor targets, int steps) => BenchmarkContext.Median(SteadyStepTimes(tokens, targets, steps));

    /// <summary>The seconds of each of <paramref name="steps"/> consecutive steps, after as many untimed ones.</summary>
    public double[] SteadyStepTimes(Tensor tokens, Tensor targets, int steps)
    {
        for (int i = 0; i < steps; i++)
            Step(tokens, targets);
        return BenchmarkContext.Seconds(() => Step(tokens, targets), steps);
    }

    /// <summary>Loss without a step (evaluation mode: no dropout, no gradients).</summary>
    public float Loss(Tensor tokens, Tensor targets)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var output = model.forward(tokens);
        model.train();
        return (LossSum(output, targets) / targets.numel()).item<float>();
    }

    /// <summary>Random token ids and targets of the shape's size (what the bare step benchmark feeds).</summary>
    public static (Tensor Tokens, Tensor Targets) RandomBatch(ModelShape shape, int seed)
    {
        var generator = new Generator((ulong)seed);
        var tokens = randint(0, shape.VocabularySize, [shape.Batch, shape.SequenceLength], dtype: ScalarType.Int64, generator: generator);
        var targets = shape.Causal
            ? randint(0, shape.VocabularySize, [shape.Batch, shape.SequenceLength], dtype: ScalarType.Int64, generator: generator)
            : randint(0, shape.Outputs, [shape.Batch], dtype: ScalarType.Int64, generator: generator);
        return (tokens, targets);
    }

    public void Dispose()
    {
        step.Dispose();
        model.Dispose();
    }
}
