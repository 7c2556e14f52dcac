using System.Diagnostics;
using Microsoft.ML.Runtime;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Memory;

/// <summary>How a memory training run ended.</summary>
internal sealed record MemoryTrainingRun(int Steps, TimeSpan Time, double FinalLoss);

/// <summary>
/// The loop of every memory model: batches of chunk rows drawn by a generator seeded with (seed, step), one
/// <see cref="TrainingStep"/> each, the shared <see cref="WarmupDecaySchedule"/> (following the clock under a time budget).
/// The model's loss reads rows by index, so the same loop trains an autoencoder (tokens in) and a decoder on frozen memories.
/// </summary>
internal static class MemoryTraining
{
    /// <param name="host">Logs progress.</param>
    /// <param name="what">Names the run in the log.</param>
    /// <param name="model">The trainable module (its parameters are what the step updates).</param>
    /// <param name="targets">[N, L + 1] targets of every training row (<see cref="MemoryChunks"/>).</param>
    /// <param name="lossSum">Summed loss of rows (int64 indices [b]) against their targets [b, L + 1].</param>
    /// <param name="settings">Steps, batch, learning rate.</param>
    /// <param name="device">Where the model is.</param>
    /// <param name="lengthWarmup">
    /// Chunk rows only (the autoencoder): each step's rows are cut to their first ℓ tokens, ℓ growing from 16 to L over
    /// this fraction of the run, and <paramref name="lossSum"/> gets [b, ℓ + 1] targets ending in the end-of-text id
    /// (<see cref="MemoryChunks.Truncate"/>). Null or a fraction of 0 trains on whole rows.
    /// </param>
    public static MemoryTrainingRun Train(IHost host, string what, nn.Module model, Tensor targets, Func<Tensor, Tensor, Tensor> lossSum,
                                          SequenceTrainingSettings settings, Device device, (double Fraction, int EndOfText)? lengthWarmup = null)
    {
        int rows = (int)targets.shape[0];
        using var trainer = new TrainingStep(model, MixerPrecision.Float32, settings.WeightDecay, settings.GradientClipNorm, device, minimumRowsPerShard: 1);
        var schedule = new WarmupDecaySchedule(settings.LearningRate, settings.Steps, settings.WarmupSteps, LearningRateSchedule.Cosine,
                                               settings.MinLearningRateRatio, settings.MaxTrainingTime);
        using var ch = host.Start(what);
        model.train();
        var clock = Stopwatch.StartNew();
        double lossSumReported = 0, loss = double.NaN;
        int count = 0, step = 0;
        try
        {
            for (; step < settings.Steps; step++)
            {
                settings.CancellationToken.ThrowIfCancellationRequested();
                host.CheckAlive();
                if (settings.MaxTrainingTime is { } limit && clock.Elapsed >= limit)
                    break;
                var random = new Random(unchecked(settings.Seed * 1_000_003 + step));
                int batch = Math.Min(settings.BatchSize, rows);
                var picked = new long[batch];
                for (int i = 0; i < batch; i++)
                    picked[i] = random.Next(rows);
                using (var scope = NewDisposeScope())
                {
                    var index = tensor(picked, device: device);
                    var batchTargets = targets.index_select(0, index);
                    if (lengthWarmup is { Fraction: > 0 } warmup)
                    {
                        double progress = SequenceWarmup.Progress(settings.MaxTrainingTime, clock.Elapsed, step, settings.Steps);
                        batchTargets = MemoryChunks.Truncate(batchTargets, MemoryChunks.WarmupLength((int)targets.shape[1] - 1, progress, warmup.Fraction), warmup.EndOfText);
                    }
                    double denominator = Math.Max(1, batchTargets.ge(0).sum().item<long>());
                    loss = trainer.Run(lossSum, index, batchTargets, denominator, DataParallelGradients.Mix((ulong)settings.Seed, (ulong)step),
                                       schedule.At(step, clock.Elapsed));
                }
                if (!double.IsFinite(loss))
                    throw new InvalidOperationException($"The {what} loss became {loss} at step {step}; lower LearningRate.");
                lossSumReported += loss;
                count++;
                if ((step + 1) % settings.LogInterval == 0)
                {
                    ch.Info($"step {step + 1}/{settings.Steps}  loss {lossSumReported / count:F4}  {clock.Elapsed.TotalSeconds:F0} s");
                    lossSumReported = 0;
                    count = 0;
                }
            }
        }
        finally
        {
            model.eval();
        }
        return new MemoryTrainingRun(step, clock.Elapsed, loss);
    }
}
