using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Training;

/// <summary>
/// The optimisation step every model trains with: the batch loss's gradient (on the CPU computed in shards by one
/// thread per torch thread, <see cref="DataParallelGradients"/>), clipping to a global norm, AdamW, and in bfloat16
/// training the bfloat16 weights refreshed from their float32 masters. The model and its objective supply only the
/// loss: the tabular trainers and the language-model trainer differ in their data and their loops' bookkeeping.
/// </summary>
internal sealed class TrainingStep : IDisposable
{
    private readonly Parameter[] weights;
    private readonly double gradientClipNorm;

    /// <param name="model">The network, already on its device.</param>
    /// <param name="precision">bfloat16 computes in bfloat16 with float32 master weights.</param>
    /// <param name="weightDecay">AdamW's decoupled weight decay.</param>
    /// <param name="gradientClipNorm">The global norm gradients are clipped to; 0 disables clipping.</param>
    /// <param name="device">Where the model trains; on the CPU each torch thread computes shards of every batch.</param>
    /// <param name="minimumRowsPerShard">The fewest rows worth a thread (a language model's sequence is worth one).</param>
    /// <param name="shardsPerThread">Shards per thread for large batches.</param>
    public TrainingStep(nn.Module model, MixerPrecision precision, double weightDecay, double gradientClipNorm, Device device,
                        int minimumRowsPerShard = DataParallelGradients.TabularRowsPerShard, int shardsPerThread = DataParallelGradients.DefaultShardsPerThread)
    {
        // bfloat16 compute with float32 master weights: the optimizer, clipping, checkpoints and best-weight snapshots see the masters.
        BFloat16 = precision == MixerPrecision.BFloat16 ? new BFloat16Training(model) : null;
        weights = model.parameters().ToArray();
        Masters = BFloat16?.MasterParameters.ToArray() ?? weights;
        Optimizer = new AdamWOptimizer(Masters, weightDecay);
        gradients = new Lazy<DataParallelGradients>(() => new DataParallelGradients(device.type == DeviceType.CPU ? get_num_threads() : 1, minimumRowsPerShard, shardsPerThread));
        this.gradientClipNorm = gradientClipNorm;
    }

    /// <summary>
    /// A float32 step over the weights of several modules whose batch loss is not a sum over rows (retrieval's InfoNCE,
    /// where every query is scored against the batch's documents): the caller runs the backward pass, then <see cref="Update"/>.
    /// </summary>
    public TrainingStep(IEnumerable<nn.Module> models, double weightDecay, double gradientClipNorm)
    {
        weights = models.SelectMany(m => m.parameters()).ToArray();
        Masters = weights;
        Optimizer = new AdamWOptimizer(Masters, weightDecay);
        gradients = new Lazy<DataParallelGradients>(() => new DataParallelGradients(1));
        this.gradientClipNorm = gradientClipNorm;
    }

    private readonly Lazy<DataParallelGradients> gradients;

    /// <summary>The bfloat16 weights' float32 masters; null in float32 training.</summary>
    public BFloat16Training? BFloat16 { get; }

    /// <summary>The weights the optimizer updates: the model's own, or their float32 masters.</summary>
    public Parameter[] Masters { get; }

    public AdamWOptimizer Optimizer { get; }

    /// <summary>The sharded gradient of a batch loss that sums over rows; made on first use.</summary>
    public DataParallelGradients Gradients => gradients.Value;

    /// <summary>One step on a batch; returns the batch's mean loss.</summary>
    /// <param name="lossSum">The loss summed over a shard's rows, in float32, from the shard's inputs and targets.</param>
    /// <param name="inputs">The batch's inputs, rows first.</param>
    /// <param name="targets">The batch's targets, rows first.</param>
    /// <param name="denominator">What the summed loss is divided by (the rows, the tokens, or the rows' class weights).</param>
    /// <param name="noiseSeed">Seeds the dropout noise of the step's shards.</param>
    /// <param name="learningRate">This step's learning rate.</param>
    public float Run(Func<Tensor, Tensor, Tensor> lossSum, Tensor inputs, Tensor targets, double denominator, ulong noiseSeed, double learningRate)
    {
        float loss = Gradients.Compute(lossSum, inputs, targets, denominator, noiseSeed, weights, Masters);
        Update(learningRate);
        return loss;
    }

    /// <summary>Clips the masters' gradients, takes the AdamW step and refreshes the bfloat16 weights.</summary>
    public void Update(double learningRate)
    {
        if (gradientClipNorm > 0)
            nn.utils.clip_grad_norm_(Masters, gradientClipNorm);
        Optimizer.Step(learningRate);
        BFloat16?.CopyMasterToModel();
    }

    public void Dispose()
    {
        if (gradients.IsValueCreated)
            gradients.Value.Dispose();
        Optimizer.Dispose();
        BFloat16?.Dispose();
    }
}
