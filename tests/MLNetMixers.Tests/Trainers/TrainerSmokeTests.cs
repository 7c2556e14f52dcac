using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Trainers;

public class TrainerSmokeTests
{
    [Fact]
    public void BinaryMixerSeparatesDiabetesOnHeldOutRows()
    {
        var ml = new MLContext(seed: 1);
        var split = ml.Data.TrainTestSplit(TrainerData.Diabetes(ml), testFraction: 0.25, seed: 1);
        var pipeline = ml.Transforms.EncodeAsCharacters("Features", TrainerData.DiabetesFeatures)
            .Append(ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { NumberOfThreads = 1, Epochs = 20 }));
        var model = pipeline.Fit(split.TrainSet);
        var metrics = ml.BinaryClassification.Evaluate(model.Transform(split.TestSet));
        Console.WriteLine($"diabetes AUC {metrics.AreaUnderRocCurve:F3} accuracy {metrics.Accuracy:F3}");
        Assert.True(metrics.AreaUnderRocCurve > 0.75, $"AUC {metrics.AreaUnderRocCurve:F3}");
    }

    [Fact]
    public void MulticlassMixerNamesPenguinSpeciesOnHeldOutRows()
    {
        var ml = new MLContext(seed: 1);
        var split = ml.Data.TrainTestSplit(TrainerData.Penguins(ml), testFraction: 0.25, seed: 1);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
            .Append(ml.MulticlassClassification.Trainers.Mixer(new MixerMulticlassTrainer.Options { NumberOfThreads = 1, Epochs = 20 }));
        var model = pipeline.Fit(split.TrainSet);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(split.TestSet));
        Console.WriteLine($"penguins accuracy {metrics.MicroAccuracy:F3}");
        Assert.True(metrics.MicroAccuracy > 0.9, $"accuracy {metrics.MicroAccuracy:F3}");
    }

    [Fact]
    public void RegressionMixerPredictsConcreteStrengthOnHeldOutRows()
    {
        var ml = new MLContext(seed: 1);
        var split = ml.Data.TrainTestSplit(TrainerData.Concrete(ml), testFraction: 0.25, seed: 1);
        var pipeline = ml.Transforms.EncodeAsCharacters("Features", TrainerData.ConcreteFeatures)
            .Append(ml.Regression.Trainers.Mixer(new MixerRegressionTrainer.Options { NumberOfThreads = 1, Epochs = 20 }));
        var model = pipeline.Fit(split.TrainSet);
        var metrics = ml.Regression.Evaluate(model.Transform(split.TestSet));
        Console.WriteLine($"concrete R2 {metrics.RSquared:F3} RMSE {metrics.RootMeanSquaredError:F2}");
        Assert.True(metrics.RSquared > 0.6, $"R^2 {metrics.RSquared:F3}");
    }
}
