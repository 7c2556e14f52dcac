using System.Diagnostics;
using Microsoft.ML.Runtime;
using MLNetMixers.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Training;

/// <summary>
/// The training loop shared by every mixer trainer: AdamW, linear warmup then cosine/linear decay, gradient
/// clipping, a seeded shuffle per epoch, validation with early stopping (best weights restored), progress,
/// cancellation and a time limit.
/// </summary>
internal sealed class MixerTrainingLoop
{
    private static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(2);

    private readonly IHost host;
    private readonly MixerTrainerOptions options;
    private readonly TaskObjective objective;
    private readonly Device device;

    public MixerTrainingLoop(IHost host, MixerTrainerOptions options, TaskObjective objective, Device device)
    {
        this.host = host;
        this.options = options;
        this.objective = objective;
        this.device = device;
    }

    /// <summary>Trains <paramref name="model"/> in place and leaves it in eval mode on the device.</summary>
    public void Run(TabularModel model, EncodedRows train, float[] trainTargets, EncodedRows? validation, float[]? validationTargets, int seed)
    {
        using var ch = host.Start("Training mixer");
        using var pch = host.StartProgressChannel("Training mixer");
        var clock = Stopwatch.StartNew();

        int rows = train.Count;
        int batchSize = Math.Min(options.BatchSize, rows);
        int stepsPerEpoch = (rows + batchSize - 1) / batchSize;
        long totalSteps = (long)stepsPerEpoch * options.Epochs;
        var schedule = new WarmupDecaySchedule(options.LearningRate, totalSteps, (long)Math.Round(options.WarmupFraction * totalSteps),
                                               options.Schedule, TimeBudget: options.MaxTrainingTime);
        long step = 0;
        double lastLoss = double.NaN;
        pch.SetHeader(new ProgressHeader(["Loss"], ["steps"]), e =>
        {
            e.SetProgress(0, step, totalSteps);
            e.SetMetric(0, lastLoss);
        });

        model.to(device);
        model.train();
        if (options.Precision == MixerPrecision.BFloat16 && device.type == DeviceType.CPU)
            BFloat16Training.ReportCpuSpeed(ch);
        using var trainer = new TrainingStep(model, options.Precision, options.WeightDecay, options.GradientClipNorm, device);
        var noiseSeeds = new Random(seed);

        using var tokens = train.Tokens.to(device);
        using var targets = tensor(trainTargets, device: device).to(objective.TargetType);
        using var validationTokens = validation?.Tokens.to(device);
        using var validationTargetTensor = validationTargets is null ? null : tensor(validationTargets, device: device).to(objective.TargetType);

        var shuffle = new Random(seed);
        var order = Enumerable.Range(0, rows).Select(i => (long)i).ToArray();
        Tensor[]? bestWeights = null;
        double bestMetric = double.PositiveInfinity;
        int epochsWithoutImprovement = 0;
        var lastReport = TimeSpan.Zero;
        double lossSinceReport = 0;
        int stepsSinceReport = 0;
        long rowsSeen = 0;
        bool outOfTime = false;

        try
        {
            for (int epoch = 1; epoch <= options.Epochs && !outOfTime; epoch++)
            {
                shuffle.Shuffle(order);
                using var epochOrder = tensor(order, device: device);
                double epochLoss = 0;
                for (int start = 0; start < rows; start += batchSize)
                {
                    options.CancellationToken.ThrowIfCancellationRequested();
                    int count = Math.Min(batchSize, rows - start);
                    double lr = schedule.At(step, clock.Elapsed);
                    float loss = Step(model, trainer, tokens, targets, epochOrder.narrow(0, start, count), lr, (ulong)noiseSeeds.NextInt64());
                    step++;
                    rowsSeen += count;
                    if (!float.IsFinite(loss))
                        throw host.Except(NonFiniteLossMessage(loss, epoch, step, lr));
                    lastLoss = loss;
                    epochLoss += loss * count;
                    lossSinceReport += loss;
                    stepsSinceReport++;

                    if (options.MaxTrainingTime is { } limit && clock.Elapsed >= limit)
                    {
                        ch.Info($"Stopping after {clock.Elapsed:hh\\:mm\\:ss} (MaxTrainingTime {limit}) in epoch {epoch}, step {step} of {totalSteps}, learning rate {lr:G3} (the schedule follows the time).");
                        outOfTime = true;
                        break;
                    }
                    if (clock.Elapsed - lastReport >= ReportInterval && start + count < rows)
                    {
                        ch.Trace($"Epoch {epoch}/{options.Epochs}, step {step}/{totalSteps}: training loss {lossSinceReport / stepsSinceReport:G5}, " +
                                 $"{rowsSeen / clock.Elapsed.TotalSeconds:F0} rows/s.");
                        Report(epoch, step, totalSteps, lossSinceReport / stepsSinceReport, null, rowsSeen, clock.Elapsed);
                        lastReport = clock.Elapsed;
                        lossSinceReport = 0;
                        stepsSinceReport = 0;
                    }
                }

                double? metric = null;
                if (validationTokens is not null && !outOfTime)
                {
                    metric = Validate(model, validationTokens, validationTargetTensor!);
                    if (metric < bestMetric)
                    {
                        bestMetric = metric.Value;
                        epochsWithoutImprovement = 0;
                        DisposeAll(bestWeights);
                        bestWeights = trainer.Masters.Select(p => p.detach().clone().DetachFromDisposeScope()).ToArray();
                    }
                    else
                    {
                        epochsWithoutImprovement++;
                    }
                }

                string validationText = metric is { } m ? $", validation {objective.ValidationMetricName} {m:G5}" : "";
                ch.Info($"Epoch {epoch}/{options.Epochs}: training loss {epochLoss / Math.Max(1, rows):G5}{validationText}, " +
                        $"{rowsSeen / clock.Elapsed.TotalSeconds:F0} rows/s, elapsed {clock.Elapsed:hh\\:mm\\:ss}.");
                Report(epoch, step, totalSteps, stepsSinceReport > 0 ? lossSinceReport / stepsSinceReport : lastLoss, metric, rowsSeen, clock.Elapsed);
                lastReport = clock.Elapsed;
                lossSinceReport = 0;
                stepsSinceReport = 0;

                if (options.EarlyStoppingPatience is { } patience && metric is not null && epochsWithoutImprovement >= patience)
                {
                    ch.Info($"Early stopping after epoch {epoch}: no validation improvement for {patience} epochs (best {objective.ValidationMetricName} {bestMetric:G5}).");
                    break;
                }
            }

            trainer.BFloat16?.RestoreFloat32();
            if (bestWeights is not null)
            {
                using var noGrad = no_grad();
                var restored = model.parameters().ToArray();  // new tensors if bfloat16 training converted the model back
                for (int i = 0; i < restored.Length; i++)
                    restored[i].copy_(bestWeights[i]);
            }
        }
        finally
        {
            DisposeAll(bestWeights);
            model.eval();
        }
    }

    private float Step(TabularModel model, TrainingStep trainer, Tensor tokens, Tensor targets, Tensor batch, double lr, ulong noiseSeed)
    {
        using var scope = NewDisposeScope();
        var x = tokens.index_select(0, batch).to(ScalarType.Int64);
        var y = targets.index_select(0, batch);
        // The loss is computed in float32 whatever the network's precision; bfloat16 gradients go straight to the float32 masters.
        return trainer.Run((rows, rowTargets) => objective.LossSum(model.forward(rows).to(ScalarType.Float32), rowTargets),
                           x, y, objective.LossDenominator(y), noiseSeed, lr);
    }

    /// <summary>The validation metric over every validation row, in batches, without dropout.</summary>
    private double Validate(TabularModel model, Tensor validationTokens, Tensor validationTargets)
    {
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            long n = validationTokens.shape[0];
            var outputs = new List<Tensor>();
            for (long start = 0; start < n; start += 1024)
                outputs.Add(model.forward(validationTokens.narrow(0, start, Math.Min(1024, n - start)).to(ScalarType.Int64)).to(ScalarType.Float32));
            return objective.ValidationMetric(cat(outputs, 0), validationTargets);
        }
        finally
        {
            model.train();
        }
    }

    private void Report(int epoch, long step, long totalSteps, double loss, double? metric, long rowsSeen, TimeSpan elapsed)
    {
        if (options.Progress is null)
            return;
        TimeSpan? remaining = step > 0 ? elapsed * ((double)(totalSteps - step) / step) : null;
        if (options.MaxTrainingTime is { } limit && remaining is { } r && elapsed + r > limit)
            remaining = limit - elapsed < TimeSpan.Zero ? TimeSpan.Zero : limit - elapsed;
        options.Progress.Report(new TrainingProgress
        {
            Epoch = epoch,
            Epochs = options.Epochs,
            Step = step,
            TotalSteps = totalSteps,
            Loss = loss,
            ValidationMetric = metric,
            ValidationMetricName = metric is null ? null : objective.ValidationMetricName,
            RowsPerSecond = elapsed.TotalSeconds > 0 ? rowsSeen / elapsed.TotalSeconds : 0,
            Elapsed = elapsed,
            EstimatedRemaining = remaining,
        });
    }

    private string NonFiniteLossMessage(float loss, int epoch, long step, double lr)
        => $"The training loss became {loss} at epoch {epoch}, step {step} (learning rate {lr:G3}). The learning rate is most likely " +
           $"too high for this data and model: lower LearningRate (now {options.LearningRate:G3}), keep GradientClipNorm > 0 " +
           $"(now {options.GradientClipNorm}) or raise WarmupFraction. If it persists, check the label for extreme values.";

    private static void DisposeAll(Tensor[]? tensors)
    {
        if (tensors is null)
            return;
        foreach (var t in tensors)
            t.Dispose();
    }
}
