using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Trainers;

/// <summary>Small networks that still learn the shared datasets well: the trainer tests must stay fast on one thread.</summary>
internal static class SmallNetwork
{
    public static T Configure<T>(T options, int epochs = 15) where T : MixerTrainerOptions
    {
        options.Width = 32;
        options.Depth = 2;
        options.MlpRatio = 2;
        options.Epochs = epochs;
        options.NumberOfThreads = 1;
        return options;
    }
}

/// <summary>One trained binary pipeline (Pima diabetes, 75/25 split), shared by the tests of a class.</summary>
public sealed class DiabetesModelFixture
{
    public DiabetesModelFixture()
    {
        Split = Ml.Data.TrainTestSplit(TrainerData.Diabetes(Ml), testFraction: 0.25, seed: 1);
        var pipeline = Ml.Transforms.EncodeAsCharacters("Features", TrainerData.DiabetesFeatures)
            .Append(Ml.BinaryClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerBinaryTrainer.Options())));
        Model = pipeline.Fit(Split.TrainSet);
    }

    public MLContext Ml { get; } = new(seed: 1);
    public DataOperationsCatalog.TrainTestData Split { get; }
    public TransformerChain<MixerPredictionTransformer> Model { get; }
}

/// <summary>One trained multiclass pipeline (penguins, 75/25 split), shared by the tests of a class.</summary>
public sealed class PenguinModelFixture
{
    public PenguinModelFixture()
    {
        Split = Ml.Data.TrainTestSplit(TrainerData.Penguins(Ml), testFraction: 0.25, seed: 1);
        var pipeline = Ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(Ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
            .Append(Ml.MulticlassClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerMulticlassTrainer.Options())));
        Model = pipeline.Fit(Split.TrainSet);
    }

    public MLContext Ml { get; } = new(seed: 1);
    public DataOperationsCatalog.TrainTestData Split { get; }
    public TransformerChain<MixerPredictionTransformer> Model { get; }
}

/// <summary>One trained regression pipeline (concrete strength, 75/25 split), shared by the tests of a class.</summary>
public sealed class ConcreteModelFixture
{
    public ConcreteModelFixture()
    {
        Split = Ml.Data.TrainTestSplit(TrainerData.Concrete(Ml), testFraction: 0.25, seed: 1);
        var pipeline = Ml.Transforms.EncodeAsCharacters("Features", TrainerData.ConcreteFeatures)
            .Append(Ml.Regression.Trainers.Mixer(SmallNetwork.Configure(new MixerRegressionTrainer.Options())));
        Model = pipeline.Fit(Split.TrainSet);
    }

    public MLContext Ml { get; } = new(seed: 1);
    public DataOperationsCatalog.TrainTestData Split { get; }
    public TransformerChain<MixerPredictionTransformer> Model { get; }
}

/// <summary>Round-trips a model through an ML.NET model zip in a fresh MLContext.</summary>
internal static class ModelZip
{
    public static ITransformer RoundTrip(MLContext ml, ITransformer model, DataViewSchema inputSchema, out MLContext fresh)
    {
        string path = Path.Combine(TestData.NewTempFolder(), "model.zip");
        ml.Model.Save(model, inputSchema, path);
        fresh = new MLContext(seed: 123);
        var loaded = fresh.Model.Load(path, out _);
        File.Delete(path);
        return loaded;
    }
}
