using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Training;

namespace MLNetMixers.Tests.Trainers;

/// <summary>Reports synchronously on the training thread (System.Progress posts to the thread pool).</summary>
internal sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

public class TrainerBehaviourTests
{
    private sealed class Row
    {
        public float A { get; set; }
        public string B { get; set; } = "";
        public float Number { get; set; }
        public bool Flag { get; set; }
        public string Text { get; set; } = "";
    }

    private static IDataView Synthetic(MLContext ml, Func<int, Row, Row>? edit = null)
        => ml.Data.LoadFromEnumerable(Enumerable.Range(0, 60).Select(i =>
        {
            var row = new Row { A = i % 10, B = i % 3 == 0 ? "x" : "y", Number = i % 10 * 2, Flag = i % 10 > 4, Text = "c" + i % 3 };
            return edit is null ? row : edit(i, row);
        }).ToList());

    private static Exception FitFails(MLContext ml, IDataView data, IEstimator<ITransformer> trainer, IEstimator<ITransformer>? before = null)
    {
        IEstimator<ITransformer> pipeline = ml.Transforms.EncodeAsCharacters("Features", "A", "B");
        if (before is not null)
            pipeline = before.Append(pipeline);
        return Assert.ThrowsAny<Exception>(() => pipeline.Append(trainer).Fit(data));
    }

    [Fact]
    public void MissingBinaryLabelsAreReportedWithTheColumnName()
    {
        var ml = new MLContext(seed: 1);
        var data = Synthetic(ml, (i, r) => { r.Number = i == 7 ? float.NaN : r.Number % 2; return r; });
        var error = FitFails(ml, data, ml.BinaryClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerBinaryTrainer.Options { LabelColumnName = "Number" }, 1)));
        Assert.Contains("'Number'", error.Message);
        Assert.Contains("1 missing value", error.Message);
        Assert.Contains("row 7", error.Message);
    }

    [Fact]
    public void NumberOfThreadsHoldsWhileTrainingAndIsRestoredAfter()
    {
        // torch's thread count is process-wide: a trainer's option must not change it for scoring or the next trainer.
        int before = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(3);
        try
        {
            var ml = new MLContext(seed: 1);
            var seen = new List<int>();
            var options = SmallNetwork.Configure(new MixerBinaryTrainer.Options { LabelColumnName = "Flag" }, 2);
            options.Progress = new SyncProgress(_ => seen.Add(TorchSharp.torch.get_num_threads()));
            ml.Transforms.EncodeAsCharacters("Features", "A", "B").Append(ml.BinaryClassification.Trainers.Mixer(options)).Fit(Synthetic(ml));
            Assert.NotEmpty(seen);
            Assert.All(seen, threads => Assert.Equal(1, threads));
            Assert.Equal(3, TorchSharp.torch.get_num_threads());
        }
        finally
        {
            TorchSharp.torch.set_num_threads(before);
        }
    }

    [Fact]
    public void AnUndefinedPrecisionIsRefusedNamingTheOption()
    {
        var ml = new MLContext(seed: 1);
        var options = new MixerBinaryTrainer.Options { LabelColumnName = "Flag", Precision = (MixerPrecision)7 };
        var error = Assert.ThrowsAny<ArgumentException>(() => ml.BinaryClassification.Trainers.Mixer(options));
        Assert.Contains("Precision", error.Message);
    }

    [Fact]
    public void SingleClassLabelsAreReported()
    {
        var ml = new MLContext(seed: 1);
        var binary = FitFails(ml, Synthetic(ml, (_, r) => { r.Flag = true; return r; }),
            ml.BinaryClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerBinaryTrainer.Options { LabelColumnName = "Flag" }, 1)));
        Assert.Contains("both classes", binary.Message);

        var multiclass = FitFails(ml, Synthetic(ml, (_, r) => { r.Text = "same"; return r; }),
            ml.MulticlassClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerMulticlassTrainer.Options(), 1)),
            ml.Transforms.Conversion.MapValueToKey("Label", "Text"));
        Assert.Contains("single class", multiclass.Message);

        var regression = FitFails(ml, Synthetic(ml, (_, r) => { r.Number = 3; return r; }),
            ml.Regression.Trainers.Mixer(SmallNetwork.Configure(new MixerRegressionTrainer.Options { LabelColumnName = "Number" }, 1)));
        Assert.Contains("constant label", regression.Message);
    }

    [Fact]
    public void WrongLabelTypesNameTheColumnAndTheFix()
    {
        var ml = new MLContext(seed: 1);
        var data = Synthetic(ml);
        var regression = FitFails(ml, data, ml.Regression.Trainers.Mixer("Text"));
        Assert.Contains("Text", regression.Message);
        Assert.Contains("Single or Double", regression.Message);

        var multiclass = FitFails(ml, data, ml.MulticlassClassification.Trainers.Mixer("Text"));
        Assert.Contains("MapValueToKey", multiclass.Message);

        var binary = FitFails(ml, data, ml.BinaryClassification.Trainers.Mixer("Text"));
        Assert.Contains("Boolean", binary.Message);

        var missingRegressionLabel = FitFails(ml, Synthetic(ml, (i, r) => { r.Number = i == 3 ? float.NaN : r.Number; return r; }),
            ml.Regression.Trainers.Mixer(SmallNetwork.Configure(new MixerRegressionTrainer.Options { LabelColumnName = "Number" }, 1)));
        Assert.Contains("missing", missingRegressionLabel.Message);
    }

    [Fact]
    public void FeaturesThatAreNotEncodedCharactersAreRejectedBeforeTraining()
    {
        var ml = new MLContext(seed: 1);
        var data = Synthetic(ml);
        var trainer = ml.BinaryClassification.Trainers.Mixer("Flag", "Numbers");
        var error = Assert.ThrowsAny<Exception>(() => ml.Transforms.Concatenate("Numbers", "A", "Number").Append(trainer).Fit(data));
        Assert.Contains("Numbers", error.Message);
        Assert.Contains("EncodeAsCharacters", error.Message);
    }

    [Fact]
    public void NonFiniteLossNamesTheLearningRate()
    {
        var ml = new MLContext(seed: 1);
        var options = SmallNetwork.Configure(new MixerRegressionTrainer.Options
        {
            LabelColumnName = "Number", LearningRate = 1e12, GradientClipNorm = 0, WarmupFraction = 0, Dropout = 0,
        }, 50);
        var error = FitFails(ml, Synthetic(ml), ml.Regression.Trainers.Mixer(options));
        Assert.Contains("learning rate", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void CancellationStopsWithinOneStep()
    {
        var ml = new MLContext(seed: 1);
        using var cancellation = new CancellationTokenSource();
        var reports = new List<TrainingProgress>();
        var options = SmallNetwork.Configure(new MixerBinaryTrainer.Options
        {
            LabelColumnName = "Flag", BatchSize = 8, CancellationToken = cancellation.Token,
            Progress = new SyncProgress(p => { reports.Add(p); cancellation.Cancel(); }),
        }, 1000);
        var encoded = ml.Transforms.EncodeAsCharacters("Features", "A", "B").Fit(Synthetic(ml)).Transform(Synthetic(ml));
        Assert.ThrowsAny<OperationCanceledException>(() => ml.BinaryClassification.Trainers.Mixer(options).Fit(encoded));
        var report = Assert.Single(reports);
        Assert.Equal(1, report.Epoch);
        Assert.Equal(8, report.Step); // 60 rows in batches of 8: the epoch's last step, then no other
    }

    [Fact]
    public void TimeLimitKeepsTheModelTrainedSoFar()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var reports = new List<TrainingProgress>();
        var options = SmallNetwork.Configure(new MixerBinaryTrainer.Options
        {
            LabelColumnName = "Flag", MaxTrainingTime = TimeSpan.FromTicks(1), Progress = new SyncProgress(reports.Add),
        }, 1000);
        var model = ml.Transforms.EncodeAsCharacters("Features", "A", "B").Append(ml.BinaryClassification.Trainers.Mixer(options)).Fit(Synthetic(ml));
        Assert.Equal(1, Assert.Single(reports).Step);
        Assert.Equal(60, ml.Data.CreateEnumerable<BinaryScore>(model.Transform(Synthetic(ml)), false).Count());
        lock (messages)
        {
            Assert.Contains(messages, m => m.Contains("MaxTrainingTime"));
            Assert.Contains(messages, m => m.Contains("Epoch 1/1000"));
        }
    }

    [Fact]
    public void ATimeLimitEndsTrainingAnnealedNotAtThePeakLearningRate()
    {
        // A run stopped mid-schedule used to keep the weights of a peak-learning-rate step (ames: R² -363 after a 30 s cut).
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var options = SmallNetwork.Configure(new MixerBinaryTrainer.Options { LabelColumnName = "Flag", MaxTrainingTime = TimeSpan.FromSeconds(2) }, 1000);
        ml.Transforms.EncodeAsCharacters("Features", "A", "B").Append(ml.BinaryClassification.Trainers.Mixer(options)).Fit(Synthetic(ml));
        string stop;
        lock (messages)
            stop = Assert.Single(messages, m => m.Contains("MaxTrainingTime"));
        var match = System.Text.RegularExpressions.Regex.Match(stop, @"learning rate ([0-9.eE+-]+)");
        Assert.True(match.Success, stop);
        double lastRate = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(lastRate < 0.05 * options.LearningRate, stop);
    }

    private sealed class BinaryScore
    {
        public float Score { get; set; }
    }

    [Fact]
    public void EarlyStoppingKeepsTheBestEpochsWeights()
    {
        var ml = new MLContext(seed: 2);
        var split = ml.Data.TrainTestSplit(TrainerData.Penguins(ml), testFraction: 0.3, seed: 2);
        var prepare = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures)).Fit(split.TrainSet);
        var train = prepare.Transform(split.TrainSet);
        var validation = prepare.Transform(split.TestSet);
        var reports = new List<TrainingProgress>();
        var options = SmallNetwork.Configure(new MixerMulticlassTrainer.Options
        {
            EarlyStoppingPatience = 2, Schedule = LearningRateSchedule.Constant, LearningRate = 3e-3,
            Progress = new SyncProgress(reports.Add),
        }, 200);
        var model = ml.MulticlassClassification.Trainers.Mixer(options).Fit(train, validation);

        var epochEnds = reports.Where(r => r.ValidationMetric is not null).ToArray();
        Assert.All(epochEnds, r => Assert.Equal("LogLoss", r.ValidationMetricName));
        Assert.True(epochEnds.Length < 200, "training should stop early");
        int best = Array.FindIndex(epochEnds, r => r.ValidationMetric == epochEnds.Min(e => e.ValidationMetric));
        Assert.Equal(best + 3, epochEnds.Length); // the best epoch, then two without improvement
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(validation));
        Assert.Equal(epochEnds[best].ValidationMetric!.Value, metrics.LogLoss, 1e-3);
    }

    [Theory]
    [InlineData(TabularArchitecture.Mlp)]
    [InlineData(TabularArchitecture.Transformer)]
    public void BaselinesLearnPenguinsAndRoundTrip(TabularArchitecture architecture)
    {
        var ml = new MLContext(seed: 1);
        var split = ml.Data.TrainTestSplit(TrainerData.Penguins(ml), testFraction: 0.25, seed: 1);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
            .Append(ml.MulticlassClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerMulticlassTrainer.Options { Architecture = architecture, Heads = 2 }, 10)));
        var model = pipeline.Fit(split.TrainSet);
        var scored = model.Transform(split.TestSet);
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Assert.True(metrics.MicroAccuracy > 0.85, $"{architecture} accuracy {metrics.MicroAccuracy:F3}");

        var loaded = ModelZip.RoundTrip(ml, model, split.TrainSet.Schema, out var fresh);
        var again = fresh.MulticlassClassification.Evaluate(loaded.Transform(split.TestSet));
        Assert.Equal(metrics.LogLoss, again.LogLoss);
    }

    [Theory]
    [InlineData(TabularArchitecture.Mixer)]
    [InlineData(TabularArchitecture.Mlp)]
    [InlineData(TabularArchitecture.Transformer)]
    public void BFloat16TrainingLearnsAndLeavesFloat32Weights(TabularArchitecture architecture)
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<(ChannelMessageKind Kind, string Text)>();
        ml.Log += (_, e) => { lock (messages) messages.Add((e.Kind, e.Message)); };
        var split = ml.Data.TrainTestSplit(TrainerData.Penguins(ml), testFraction: 0.25, seed: 1);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
            .Append(ml.MulticlassClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerMulticlassTrainer.Options { Precision = MixerPrecision.BFloat16, Architecture = architecture }, 10)));
        var model = pipeline.Fit(split.TrainSet);
        Assert.All(model.LastTransformer.Network.parameters(), p => Assert.Equal(TorchSharp.torch.ScalarType.Float32, p.dtype));
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(split.TestSet));
        Assert.True(metrics.MicroAccuracy > 0.85, $"bfloat16 accuracy {metrics.MicroAccuracy:F3}");

        // Where bfloat16 is slower than float32 on this CPU (no bfloat16 instructions, or AVX512-BF16 on an Intel CPU
        // without AMX), the user is told, with the figures; where it is faster, the figures come as information.
        List<string> warnings, information;
        lock (messages)
        {
            warnings = messages.Where(m => m.Kind == ChannelMessageKind.Warning && m.Text.Contains("MixerPrecision.BFloat16")).Select(m => m.Text).ToList();
            information = messages.Where(m => m.Kind == ChannelMessageKind.Info && m.Text.Contains("GFLOP/s")).Select(m => m.Text).ToList();
        }
        var speeds = BFloat16Training.CpuMatmulSpeeds;
        string ratio = $"({speeds.BFloat16Speedup:F2}x)";
        if (speeds.BFloat16Speedup < 1)
        {
            Assert.Contains(ratio, Assert.Single(warnings));
            Assert.Empty(information);
        }
        else
        {
            Assert.Empty(warnings);
            Assert.Contains(ratio, Assert.Single(information));
        }
    }

    [Fact]
    public void CrossValidateTrainsAndScoresEveryFold()
    {
        var ml = new MLContext(seed: 1);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
            .Append(ml.MulticlassClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerMulticlassTrainer.Options(), 8)));
        var folds = ml.MulticlassClassification.CrossValidate(TrainerData.Penguins(ml), pipeline, numberOfFolds: 2);
        Assert.Equal(2, folds.Count);
        Assert.All(folds, f => Assert.True(f.Metrics.MicroAccuracy > 0.75, $"fold accuracy {f.Metrics.MicroAccuracy:F3}"));
    }
}

[CollectionDefinition(nameof(TorchRandomCollection), DisableParallelization = true)]
public class TorchRandomCollection
{
}

/// <summary>
/// Runs alone: torch's dropout draws from its process-wide generator, so a model trained concurrently in another
/// test would interleave its draws with these.
/// </summary>
[Collection(nameof(TorchRandomCollection))]
public class TrainerDeterminismTests
{
    private static float[][] Train(int seed, int? optionSeed = null, int threads = 1)
    {
        var ml = new MLContext(seed: seed);
        var options = SmallNetwork.Configure(new MixerMulticlassTrainer.Options { Dropout = 0.2, Seed = optionSeed }, 3);
        options.NumberOfThreads = threads;
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
            .Append(ml.MulticlassClassification.Trainers.Mixer(options));
        using var mixer = pipeline.Fit(TrainerData.Penguins(ml)).LastTransformer;
        return mixer.Network.parameters().Select(p => p.data<float>().ToArray()).ToArray();
    }

    [Fact]
    public void SameSeedAndDataGiveBitIdenticalWeights()
    {
        var first = Train(seed: 5);
        var second = Train(seed: 5);
        Assert.Equal(first.Length, second.Length);
        for (int i = 0; i < first.Length; i++)
            Assert.Equal(first[i], second[i]);

        var other = Train(seed: 6);
        Assert.Contains(Enumerable.Range(0, first.Length), i => !first[i].SequenceEqual(other[i]));
        var explicitSeed = Train(seed: 6, optionSeed: 77);
        Assert.Equal(explicitSeed[0], Train(seed: 7, optionSeed: 77)[0]);
    }

    [Fact]
    public void ShardsOnTwoThreadsRepeatBitForBit()
    {
        // Two threads compute a batch's shards at once, each with its dropout masks from its own seeded generator.
        var first = Train(seed: 5, threads: 2);
        var second = Train(seed: 5, threads: 2);
        for (int i = 0; i < first.Length; i++)
            Assert.Equal(first[i], second[i]);
        var other = Train(seed: 6, threads: 2);
        Assert.Contains(Enumerable.Range(0, first.Length), i => !first[i].SequenceEqual(other[i]));
    }

    [Fact]
    public void AModelTrainedAlongsideAnotherIsTheModelTrainedAlone()
    {
        // Dropout masks come from generators of the run's own; torch's process-wide one is only used, under a lock, to initialise.
        var alone = Train(seed: 5);
        var together = new float[2][][];
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i => together[i] = Train(seed: i == 0 ? 5 : 9));
        for (int i = 0; i < alone.Length; i++)
            Assert.Equal(alone[i], together[0][i]);
    }
}
