using System.Diagnostics;
using Microsoft.ML.Runtime;
using MLNetMixers.Compression;
using MLNetMixers.Models;
using MLNetMixers.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Text;

/// <summary>
/// The training loop: documents packed into one token stream with end-of-text separators, random windows of
/// n_ctx + 1 tokens per sequence, AdamW with linear warm-up and cosine decay (following the clock under a time budget),
/// progress, cancellation, checkpoints.
/// </summary>
internal static class LanguageModelTrainer
{
    private const string CheckpointFileName = "checkpoint.bin";
    private const string CheckpointMagic = "MXLMCKP2";

    /// <summary>[EOT] doc1 [EOT] doc2 [EOT] ...: every document starts after an end of text, as every prompt does.</summary>
    public static int[] Pack(IEnumerable<string> documents, TextTokenizer tokenizer)
    {
        var stream = new List<int> { tokenizer.EndOfText };
        foreach (var document in documents)
        {
            stream.AddRange(tokenizer.Encode(document));
            stream.Add(tokenizer.EndOfText);
        }
        return stream.ToArray();
    }

    /// <returns>The causal model and, when <see cref="MixerLanguageModelOptions.MemoryCodeSize"/> &gt; 0, the memory code trained with it.</returns>
    public static (LanguageModel Model, MemoryCode? MemoryCode) Train(IHost host, MixerLanguageModelOptions options, LanguageModelConfig config,
                                                                     TextTokenizer tokenizer, int[] stream, Device device)
    {
        var model = new LanguageModel(config);
        model.Initialize(options.Seed);
        model.to(device);
        MemoryCode? code = null;
        if (options.MemoryCodeSize > 0)
        {
            code = new MemoryCode(MemoryCodeConfig.For(options, config), config.Width);
            code.Initialize(options.Seed + 7919);
            code.to(device);
        }
        // With a memory code the memory token takes the window's first position.
        int window = Math.Min(code is null ? config.ContextLength : config.ContextLength - 1, stream.Length - 1);
        // A sequence of n_ctx tokens is worth a thread of its own.
        using var trainer = new TrainingStep(code is null ? model : new CodedLanguageModel(model, code), options.Precision, options.WeightDecay,
                                             options.GradientClipNorm, device, minimumRowsPerShard: 1);
        var (bf16, optimizer) = (trainer.BFloat16, trainer.Optimizer);
        int start = options.ResumeFromCheckpoint ? TryResume(host, options, config, tokenizer, model, bf16, optimizer) : 0;

        using var ch = host.Start("Training language model");
        if (bf16 is not null && device.type == DeviceType.CPU)
            BFloat16Training.ReportCpuSpeed(ch);
        ch.Info($"{options.Architecture}: {model.ParameterCount:N0} weights" +
                (code is null ? "" : $" and a memory code of {code.Config.Size} x {code.Config.Bits} bits ({code.ParameterCount:N0} weights, encoder width {code.Config.Encoder.Width}, depth {code.Config.Encoder.Depth})") +
                $", {stream.Length:N0} training tokens, vocabulary {config.VocabularySize}, " +
                $"n_ctx {config.ContextLength}, {StepBudget(options)} of {options.BatchSize} x {window} tokens on {device}" +
                (start > 0 ? $", resumed at step {start}" : ""));
        using var pch = host.StartProgressChannel("Training language model");
        int step = start;
        pch.SetHeader(new ProgressHeader(["loss"], ["step"]), e => e.SetProgress(0, step, options.Steps));

        var schedule = new WarmupDecaySchedule(options.LearningRate, options.Steps, options.WarmupSteps, LearningRateSchedule.Cosine,
                                               options.MinLearningRateRatio, options.MaxTrainingTime);
        Func<Tensor, Tensor, Tensor> summedLoss = code is not null ? (x, y) => code.LossSum(model, x, y)
            : options.EntropyEstimator is { } estimator
            ? Compression.EntropyAwareLoss.Create(model, Compression.EntropyAwareLoss.ModelOn(estimator, device), config.VocabularySize)
            : (x, y) => nn.functional.cross_entropy(model.forward(x).to(ScalarType.Float32).reshape(-1, config.VocabularySize), y.reshape(-1), reduction: nn.Reduction.Sum);
        model.train();
        var clock = Stopwatch.StartNew();
        var trainingClock = Stopwatch.StartNew();
        double lossSum = 0;
        int lossCount = 0, stepsSinceReport = 0;
        float lastLoss = float.NaN;
        for (; step < options.Steps; step++)
        {
            if (options.CancellationToken.IsCancellationRequested || IsCancelled(host))
            {
                if (options.CheckpointFolder is not null)
                    SaveCheckpoint(options.CheckpointFolder, step, config, tokenizer, model, bf16, optimizer);
                ch.Info($"Training cancelled at step {step}" + (options.CheckpointFolder is null ? "." : "; checkpoint written."));
                throw new OperationCanceledException($"Language-model training was cancelled at step {step} of {options.Steps}.", options.CancellationToken);
            }

            double lr = schedule.At(step, trainingClock.Elapsed);

            using (var scope = NewDisposeScope())
            {
                int length = WarmupWindow(options, window, step, trainingClock.Elapsed);
                var (inputs, targets) = SampleBatch(stream, length, options.BatchSize * window / length, options.Seed, step, device);
                // Dropout noise seeded by (seed, step), like the windows: a resumed run repeats the uninterrupted one.
                // The loss is computed in float32 whatever the network's precision; bfloat16 gradients go straight to the float32 masters.
                lastLoss = trainer.Run(
                    summedLoss,
                    inputs, targets, targets.numel(), DataParallelGradients.Mix((ulong)options.Seed, (ulong)step), lr);
            }
            if (!float.IsFinite(lastLoss))
                throw new InvalidOperationException($"The training loss became {lastLoss} at step {step}; lower LearningRate or raise GradientClipNorm.");
            lossSum += lastLoss;
            lossCount++;
            stepsSinceReport++;

            bool outOfTime = options.MaxTrainingTime is { } limit && trainingClock.Elapsed >= limit;
            bool last = step + 1 == options.Steps || outOfTime;
            if ((step + 1) % options.LogInterval == 0 || last)
            {
                double seconds = clock.Elapsed.TotalSeconds;
                double tokensPerSecond = stepsSinceReport * (double)options.BatchSize * window / Math.Max(seconds, 1e-9);
                var eta = TimeSpan.FromSeconds((options.Steps - step - 1) * seconds / stepsSinceReport);
                if (options.MaxTrainingTime is { } budget && trainingClock.Elapsed + eta > budget)
                    eta = outOfTime ? TimeSpan.Zero : budget - trainingClock.Elapsed;
                var progress = new LanguageModelTrainingProgress(step + 1, options.Steps, lossSum / lossCount, lr, tokensPerSecond, eta);
                ch.Info($"step {progress.Step}{(progress.TotalSteps == int.MaxValue ? "" : $"/{progress.TotalSteps}")}  loss {progress.Loss:F4}  lr {lr:G3}  {tokensPerSecond:N0} tokens/s  ETA {eta:hh\\:mm\\:ss}");
                pch.Checkpoint(progress.Loss, step + 1);
                options.Progress?.Report(progress);
                lossSum = 0;
                lossCount = 0;
                stepsSinceReport = 0;
                clock.Restart();
            }
            if (options.CheckpointFolder is not null && ((step + 1) % options.CheckpointInterval == 0 || last))
                SaveCheckpoint(options.CheckpointFolder, step + 1, config, tokenizer, model, bf16, optimizer);
            if (outOfTime)
            {
                ch.Info($"Stopping after {trainingClock.Elapsed:hh\\:mm\\:ss} (MaxTrainingTime {options.MaxTrainingTime}) at step {step + 1}{(options.Steps == int.MaxValue ? "" : $" of {options.Steps}")}, " +
                        $"learning rate {lr:G3} (the schedule follows the time).");
                break;
            }
        }
        bf16?.RestoreFloat32();
        model.eval();
        code?.eval();
        return (model, code);
    }

    private static bool IsCancelled(IHost host)
    {
        try
        {
            host.CheckAlive();
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    /// <summary>
    /// The window length at this point of training under <see cref="MixerLanguageModelOptions.ContextWarmupFraction"/>:
    /// linear in the training fraction from 64 tokens to the full window (windows of 64 or fewer never change), rounded
    /// down to a multiple of 32 and then up to the next length that divides the step's tokens, so every step sees the same
    /// number of tokens.
    /// </summary>
    internal static int WarmupWindow(MixerLanguageModelOptions options, int window, int step, TimeSpan elapsed)
    {
        if (options.ContextWarmupFraction <= 0)
            return window;
        int length = SequenceWarmup.Length(64, window, SequenceWarmup.Progress(options.MaxTrainingTime, elapsed, step, options.Steps),
                                           options.ContextWarmupFraction, 32);
        // Batch = BatchSize · window / length rows: a length that does not divide the tokens of a step is raised to the next one that does.
        while (options.BatchSize * window % length != 0 && length < window)
            length++;
        return Math.Min(length, window);
    }

    /// <summary>
    /// Windows at offsets drawn from a generator seeded by (seed, step), so a resumed run sees exactly the
    /// windows the uninterrupted run would have seen.
    /// </summary>
    internal static (Tensor Inputs, Tensor Targets) SampleBatch(int[] stream, int window, int batchSize, int seed, int step, Device device)
    {
        var random = new Random(unchecked(seed * 1_000_003 + step));
        var data = new long[batchSize * (window + 1)];
        for (int b = 0; b < batchSize; b++)
        {
            int offset = random.Next(stream.Length - window);
            for (int i = 0; i <= window; i++)
                data[b * (window + 1) + i] = stream[offset + i];
        }
        var all = tensor(data, [batchSize, window + 1], device: device);
        return (all[.., ..window], all[.., 1..]);
    }

    private static void SaveCheckpoint(string folder, int step, LanguageModelConfig config, TextTokenizer tokenizer, LanguageModel model,
                                       BFloat16Training? bf16, AdamWOptimizer optimizer)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, CheckpointFileName);
        string temporary = path + ".tmp";
        using (var w = new BinaryWriter(File.Create(temporary)))
        {
            w.Write(CheckpointMagic);
            w.Write(step);
            config.Save(w);
            tokenizer.Save(w);
            if (bf16 is null)
            {
                model.save(w);
            }
            else
            {
                // A checkpoint holds the float32 masters, the weights training goes on from (the bfloat16 model is their rounding).
                using var masters = new LanguageModel(config);
                bf16.CopyMastersTo(masters);
                masters.save(w);
            }
            optimizer.Save(w);
        }
        // Replace in one move, so an interrupted write never leaves a torn checkpoint.
        File.Move(temporary, path, overwrite: true);
    }

    private static int TryResume(IHost host, MixerLanguageModelOptions options, LanguageModelConfig config, TextTokenizer tokenizer,
                                 LanguageModel model, BFloat16Training? bf16, AdamWOptimizer optimizer)
    {
        if (options.CheckpointFolder is null)
            return 0;
        string path = Path.Combine(options.CheckpointFolder, CheckpointFileName);
        if (!File.Exists(path))
            return 0;
        using var r = new BinaryReader(File.OpenRead(path));
        if (r.ReadString() != CheckpointMagic)
            throw new FormatException($"'{path}' is not a language-model checkpoint of this version of MLNetMixers.");
        int step = r.ReadInt32();
        var saved = LanguageModelConfig.Load(r);
        if (saved != config)
            throw new InvalidOperationException($"The checkpoint in '{options.CheckpointFolder}' is of a different model ({saved}) than the options describe ({config}). " +
                                                "Use another CheckpointFolder or set ResumeFromCheckpoint = false.");
        var savedTokenizer = TextTokenizer.Load(r);
        if (!SameTokenizer(savedTokenizer, tokenizer))
            throw new InvalidOperationException($"The checkpoint in '{options.CheckpointFolder}' was trained with a different tokenizer or vocabulary than this training text gives.");
        if (bf16 is null)
        {
            model.load(r);
        }
        else
        {
            using var masters = new LanguageModel(config);
            masters.load(r);
            bf16.LoadMastersFrom(masters);
        }
        optimizer.Load(r);
        using (var ch = host.Start("Training language model"))
            ch.Info($"Resuming from '{path}' at step {step}.");
        return step;
    }

    private static bool SameTokenizer(TextTokenizer a, TextTokenizer b) => (a, b) switch
    {
        (CharacterTokenizer x, CharacterTokenizer y) => x.Characters == y.Characters,
        (ByteTokenizer, ByteTokenizer) => true,
        (BytePairTokenizer x, BytePairTokenizer y) => x.Merges.SequenceEqual(y.Merges),
        (DetachedTokenizer x, MLTokenizerAdapter y) => x.Fingerprint == y.Fingerprint && x.IdRange == y.IdRange,
        _ => false,
    };

    /// <summary>"800 steps", "steps for 3 min", or both: a time budget with Steps = int.MaxValue has no step count to show.</summary>
    private static string StepBudget(MixerLanguageModelOptions options) => (options.Steps, options.MaxTrainingTime) switch
    {
        (int.MaxValue, { } time) => $"steps for {time.TotalMinutes:G3} min",
        (var steps, { } time) => $"{steps} steps (at most {time.TotalMinutes:G3} min)",
        (var steps, null) => $"{steps} steps",
    };
}
