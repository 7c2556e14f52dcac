using System.Diagnostics;
using Microsoft.ML.Runtime;
using MLNetMixers.Models;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetMixers.Retrieval;

/// <summary>
/// Contrastive training of the towers: each step draws a batch of training pairs, embeds the queries and their
/// candidate documents, and takes one step of the shared <see cref="TrainingStep"/> (clipping, AdamW) on the InfoNCE loss
/// (all weights train, as in the paper), on the shared <see cref="WarmupDecaySchedule"/> over steps or time, with progress,
/// cancellation and checkpoints.
/// </summary>
internal static class RetrievalTrainer
{
    private const string CheckpointFileName = "retrieval-checkpoint.bin";
    private const string CheckpointMagic = "MXRETCK1";

    public static void Train(IHost host, MixerRetrievalOptions options, TextEmbedder queryTower, TextEmbedder documentTower,
                             IReadOnlyList<int[]> queries, IReadOnlyList<int[]> documents)
    {
        bool shared = ReferenceEquals(queryTower, documentTower);
        var modules = shared ? new[] { queryTower.Model } : new[] { queryTower.Model, documentTower.Model };
        // InfoNCE scores every query against the whole batch, so the loss is not a sum over rows to shard: one backward pass, then the shared update.
        using var trainer = new TrainingStep(modules, options.WeightDecay, options.GradientClipNorm);
        var optimizer = trainer.Optimizer;
        var schedule = new WarmupDecaySchedule(options.LearningRate, options.Steps, options.WarmupSteps, LearningRateSchedule.Cosine,
                                               options.MinLearningRateRatio, options.MaxTrainingTime, WarmupByStep: true);
        var (step, previousSeconds) = options.ResumeFromCheckpoint ? TryResume(host, options, modules, optimizer) : (0, 0.0);

        using var ch = host.Start("Training retrieval");
        int[][]? neighbours = null;
        if (options.HardNegativeShare > 0)
        {
            var mining = Stopwatch.StartNew();
            neighbours = LexicalNeighbours.Mine(queries, documents, NeighbourPool);
            ch.Info($"Mined lexical neighbours of {queries.Count:N0} queries in {mining.Elapsed.TotalSeconds:F1} s.");
        }
        ch.Info($"{queryTower.Model.Config.Architecture}: {(shared ? "one shared tower" : "two towers")} of {queryTower.Model.ParameterCount:N0} weights, " +
                $"{queries.Count:N0} training pairs, {(options.Negatives == RetrievalNegatives.InBatch ? $"in-batch negatives ({options.BatchSize - 1} per query)" : $"{options.Candidates - 1} sampled negatives per query")}, " +
                $"τ {options.Temperature}, at most {options.Steps} steps of {options.BatchSize} queries" +
                (options.MaxTrainingTime is { } t ? $" or {t.TotalMinutes:F1} min" : "") + (step > 0 ? $", resumed at step {step}" : ""));
        using var pch = host.StartProgressChannel("Training retrieval");
        double fraction = 0;
        pch.SetHeader(new ProgressHeader(["loss"], ["fraction"]), e => e.SetProgress(0, fraction, 1));

        foreach (var m in modules)
            m.train();
        var total = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        double lossSum = 0, lr = 0;
        int lossCount = 0, stepsSinceReport = 0;
        try
        {
            while (true)
            {
                double elapsed = previousSeconds + total.Elapsed.TotalSeconds;
                fraction = Fraction(step, elapsed, options);
                if (fraction >= 1)
                    break;
                if (options.CancellationToken.IsCancellationRequested || IsCancelled(host))
                {
                    if (options.CheckpointFolder is not null)
                        SaveCheckpoint(options.CheckpointFolder, step, elapsed, modules, optimizer);
                    ch.Info($"Retrieval training cancelled at step {step}" + (options.CheckpointFolder is null ? "." : "; checkpoint written."));
                    throw new OperationCanceledException($"Retrieval training was cancelled at step {step}.", options.CancellationToken);
                }

                lr = schedule.At(step, TimeSpan.FromSeconds(elapsed));
                float loss;
                using (var scope = NewDisposeScope())
                {
                    foreach (var m in modules)
                        m.zero_grad();
                    var lossTensor = StepLoss(options, queryTower, documentTower, queries, documents, neighbours, step);
                    lossTensor.backward();
                    loss = lossTensor.item<float>();
                    trainer.Update(lr);
                }
                if (!float.IsFinite(loss))
                    throw new InvalidOperationException($"The retrieval loss became {loss} at step {step}; lower LearningRate or raise Temperature.");
                step++;
                lossSum += loss;
                lossCount++;
                stepsSinceReport++;

                elapsed = previousSeconds + total.Elapsed.TotalSeconds;
                bool last = Fraction(step, elapsed, options) >= 1;
                if (step % options.LogInterval == 0 || last)
                {
                    double seconds = clock.Elapsed.TotalSeconds;
                    var progress = new RetrievalTrainingProgress(step, options.Steps, Math.Min(1, Fraction(step, elapsed, options)), lossSum / lossCount, lr,
                                                                 stepsSinceReport * (double)options.BatchSize / Math.Max(seconds, 1e-9), TimeSpan.FromSeconds(elapsed));
                    ch.Info($"step {step}  {progress.Fraction:P0}  loss {progress.Loss:F4}  lr {lr:G3}  {progress.PairsPerSecond:N1} pairs/s");
                    pch.Checkpoint(progress.Loss, progress.Fraction);
                    options.Progress?.Report(progress);
                    lossSum = 0;
                    lossCount = 0;
                    stepsSinceReport = 0;
                    clock.Restart();
                }
                if (options.CheckpointFolder is not null && (step % options.CheckpointInterval == 0 || last))
                    SaveCheckpoint(options.CheckpointFolder, step, elapsed, modules, optimizer);
            }
        }
        finally
        {
            foreach (var m in modules)
                m.eval();
        }
    }

    /// <summary>Each query's hard negative is drawn from its best few lexical neighbours, so that repeated epochs vary it.</summary>
    private const int NeighbourPool = 4;

    /// <summary>
    /// The InfoNCE loss of step <paramref name="step"/>'s batch, drawn from a generator seeded by (seed, step) so a
    /// resumed run repeats it. With <paramref name="neighbours"/> (HardNegativeShare), part of the batch is pairs and
    /// their lexical neighbours (in-batch negatives), or part of each query's sampled negatives is its neighbours.
    /// </summary>
    internal static Tensor StepLoss(MixerRetrievalOptions options, TextEmbedder queryTower, TextEmbedder documentTower,
                                    IReadOnlyList<int[]> queries, IReadOnlyList<int[]> documents, int[][]? neighbours, int step)
    {
        var random = new Random(unchecked(options.Seed * 1_000_003 + step));
        int n = queries.Count;
        int batch = Math.Min(options.BatchSize, n);
        if (options.Negatives == RetrievalNegatives.InBatch)
        {
            var rows = BatchRows(random, n, batch, neighbours, options.HardNegativeShare);
            var q = queryTower.Embed(Augment(rows.Select(i => queries[i]), options, 2 * step, queryTower.Pooling));
            return InfoNce.InBatchLoss(q, documentTower.Embed(Augment(rows.Select(i => documents[i]), options, 2 * step + 1, documentTower.Pooling)), options.Temperature, options.SymmetricLoss);
        }

        var queryRows = Sample(random, n, batch, exclude: -1);
        var queryEmbeddings = queryTower.Embed(Augment(queryRows.Select(i => queries[i]), options, 2 * step, queryTower.Pooling));
        int k = Math.Min(options.Candidates, n);
        int hard = neighbours is null ? 0 : (int)Math.Round((k - 1) * options.HardNegativeShare);
        var candidates = new List<int[]>(batch * k);
        foreach (int row in queryRows)
        {
            candidates.Add(documents[row]);
            var pool = neighbours?[row] ?? [];
            var mined = pool.OrderBy(_ => random.Next()).Take(hard).ToArray();
            foreach (int negative in mined)
                candidates.Add(documents[negative]);
            foreach (int negative in Sample(random, n, k - 1 - mined.Length, exclude: row, alsoExclude: mined))
                candidates.Add(documents[negative]);
        }
        var d = documentTower.Embed(Augment(candidates, options, 2 * step + 1, documentTower.Pooling)).view(batch, k, -1);
        return InfoNce.SampledLoss(queryEmbeddings, d, options.Temperature);
    }

    /// <summary>
    /// The texts as this step trains on them: with TokenDropout, each token after the leading end of text (and before a
    /// closing one that EndOfText pooling reads) is left out with that probability, at least one kept. Its own generator
    /// (seed, step, query or document side), so the batches drawn are the same with and without it.
    /// </summary>
    internal static int[][] Augment(IEnumerable<int[]> texts, MixerRetrievalOptions options, int salt, EmbeddingPooling pooling)
    {
        if (options.TokenDropout <= 0)
            return texts.ToArray();
        var random = new Random(unchecked(options.Seed * 7_919 + salt * 1_000_033 + 17));
        int tail = pooling == EmbeddingPooling.EndOfText ? 1 : 0;
        return texts.Select(ids =>
        {
            int body = ids.Length - 1 - tail;
            if (body <= 1)
                return ids;
            var kept = new List<int>(ids.Length) { ids[0] };
            for (int t = 1; t <= body; t++)
                if (random.NextDouble() >= options.TokenDropout)
                    kept.Add(ids[t]);
            if (kept.Count == 1)
                kept.Add(ids[1 + random.Next(body)]);
            if (tail == 1)
                kept.Add(ids[^1]);
            return kept.ToArray();
        }).ToArray();
    }

    /// <summary>
    /// The rows of an in-batch step: round(batch · share / 2) random pairs each followed by one of its lexical
    /// neighbours (each the other's hard negative), then random pairs; all distinct.
    /// </summary>
    internal static int[] BatchRows(Random random, int n, int batch, int[][]? neighbours, double share)
    {
        var chosen = new HashSet<int>();
        var rows = new List<int>(batch);
        int seeds = neighbours is null ? 0 : (int)Math.Round(batch * share / 2);
        for (int attempt = 0; rows.Count < 2 * seeds && attempt < 4 * batch; attempt++)
        {
            int row = random.Next(n);
            var pool = neighbours![row];
            if (pool.Length == 0 || chosen.Contains(row))
                continue;
            int neighbour = pool[random.Next(Math.Min(pool.Length, NeighbourPool))];
            if (chosen.Contains(neighbour))
                continue;
            chosen.Add(row);
            chosen.Add(neighbour);
            rows.Add(row);
            rows.Add(neighbour);
        }
        rows.AddRange(Sample(random, n, batch - rows.Count, exclude: -1, alsoExclude: chosen));
        return rows.ToArray();
    }

    /// <summary><paramref name="count"/> distinct rows of 0..n-1, none equal to <paramref name="exclude"/> or in <paramref name="alsoExclude"/>.</summary>
    private static int[] Sample(Random random, int n, int count, int exclude, IEnumerable<int>? alsoExclude = null)
    {
        var chosen = new HashSet<int>(alsoExclude ?? []);
        var result = new int[count];
        for (int i = 0; i < count; i++)
        {
            int row;
            do
                row = random.Next(n);
            while (row == exclude || !chosen.Add(row));
            result[i] = row;
        }
        return result;
    }

    /// <summary>How far training is: the larger of steps and time over their limits.</summary>
    internal static double Fraction(int step, double elapsedSeconds, MixerRetrievalOptions o)
    {
        double byStep = step / (double)o.Steps;
        double byTime = o.MaxTrainingTime is { } t ? elapsedSeconds / Math.Max(t.TotalSeconds, 1e-9) : 0;
        return Math.Max(byStep, byTime);
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

    private static void SaveCheckpoint(string folder, int step, double elapsedSeconds, LanguageModel[] modules, AdamWOptimizer optimizer)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, CheckpointFileName);
        string temporary = path + ".tmp";
        using (var w = new BinaryWriter(File.Create(temporary)))
        {
            w.Write(CheckpointMagic);
            w.Write(step);
            w.Write(elapsedSeconds);
            w.Write(modules.Length);
            foreach (var m in modules)
            {
                m.Config.Save(w);
                m.save(w);
            }
            optimizer.Save(w);
        }
        // One move: an interrupted write never leaves a torn checkpoint.
        File.Move(temporary, path, overwrite: true);
    }

    private static (int Step, double Seconds) TryResume(IHost host, MixerRetrievalOptions options, LanguageModel[] modules, AdamWOptimizer optimizer)
    {
        if (options.CheckpointFolder is null)
            return (0, 0);
        string path = Path.Combine(options.CheckpointFolder, CheckpointFileName);
        if (!File.Exists(path))
            return (0, 0);
        using var r = new BinaryReader(File.OpenRead(path));
        if (r.ReadString() != CheckpointMagic)
            throw new FormatException($"'{path}' is not a retrieval checkpoint of this version of MLNetMixers.");
        int step = r.ReadInt32();
        double seconds = r.ReadDouble();
        int count = r.ReadInt32();
        if (count != modules.Length)
            throw new InvalidOperationException($"The checkpoint in '{options.CheckpointFolder}' has {count} tower(s); these options train {modules.Length}. " +
                                                "Use another CheckpointFolder or set ResumeFromCheckpoint = false.");
        foreach (var m in modules)
        {
            var saved = LanguageModelConfig.Load(r);
            if (saved != m.Config)
                throw new InvalidOperationException($"The checkpoint in '{options.CheckpointFolder}' is of a different model ({saved}) than this training ({m.Config}). " +
                                                    "Use another CheckpointFolder or set ResumeFromCheckpoint = false.");
            m.load(r);
        }
        optimizer.Load(r);
        using (var ch = host.Start("Training retrieval"))
            ch.Info($"Resuming from '{path}' at step {step}.");
        return (step, seconds);
    }
}
