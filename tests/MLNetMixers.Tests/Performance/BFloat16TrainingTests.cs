using MLNetMixers.Benchmarks;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>bfloat16 training (bf16 model, float32 master weights) learns, and hands back exact float32 master weights.</summary>
public class BFloat16TrainingTests
{
    [Fact]
    public void Bf16TrainingLowersTheLossOnRealData()
    {
        set_num_threads(1);
        using var scope = NewDisposeScope();
        var (tokens, labels, length, vocabulary, classes) = RealBatches.Tabular(TestData.DatasetsFolder, "penguins.csv", "species");
        var shape = new ModelShape("penguins", false, 64, length, 16, 1, 2, vocabulary, classes);
        using var trainer = new BareTrainer(shape, bfloat16: true, seed: 5, learningRate: 3e-3);
        var order = new Random(1);
        float initial = trainer.Loss(tokens, labels);
        for (int step = 0; step < 40; step++)
        {
            var index = tensor(Enumerable.Range(0, shape.Batch).Select(_ => (long)order.Next((int)tokens.shape[0])).ToArray());
            trainer.Step(tokens.index_select(0, index), labels.index_select(0, index));
        }
        float final = trainer.Loss(tokens, labels);
        Assert.True(final < 0.6 * initial, $"bf16 training should cut the loss well below its start: {initial:F3} -> {final:F3}");
        Assert.All(trainer.Model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
    }

    [Fact]
    public void RestoreFloat32GivesTheMasterWeightsExactly()
    {
        random.manual_seed(2);
        using var scope = NewDisposeScope();
        using var model = nn.Linear(5, 3);
        using var bf16 = new BFloat16Training(model);
        using var optimizer = new AdamWOptimizer(bf16.MasterParameters, weightDecay: 0.01);
        var x = randn(8, 5);
        model.zero_grad();
        model.forward(x.to(ScalarType.BFloat16)).to(ScalarType.Float32).pow(2).sum().backward();
        bf16.CopyGradientsToMaster();
        Assert.All(bf16.MasterParameters, p => Assert.Equal(ScalarType.Float32, p.grad!.dtype));
        optimizer.Step(0.1);
        bf16.CopyMasterToModel();
        bf16.RestoreFloat32();
        var restored = model.parameters().ToArray();
        for (int i = 0; i < restored.Length; i++)
        {
            Assert.Equal(ScalarType.Float32, restored[i].dtype);
            Assert.True(restored[i].allclose(bf16.MasterParameters[i], rtol: 0, atol: 0), $"parameter {i} differs from its master copy");
        }
    }

    [Fact]
    public void TheSpeedCheckMeasuresBothFormatsAndLeavesTorchsRandomStreamAndThreadsAlone()
    {
        int before = get_num_threads();
        set_num_threads(2);
        try
        {
            random.manual_seed(9);
            var expected = randn(6);
            random.manual_seed(9);
            var speeds = BFloat16Training.MeasureCpuMatmulSpeeds(size: 128, rounds: 2);
            Assert.True(double.IsFinite(speeds.Float32Gflops) && speeds.Float32Gflops > 0, $"float32: {speeds.Float32Gflops}");
            Assert.True(double.IsFinite(speeds.BFloat16Gflops) && speeds.BFloat16Gflops > 0, $"bfloat16: {speeds.BFloat16Gflops}");
            Assert.Equal(speeds.BFloat16Gflops / speeds.Float32Gflops, speeds.BFloat16Speedup, 12);
            // A trainer measures after seeding its weights' initialisation: the check must not draw from torch's generator.
            Assert.True(randn(6).allclose(expected, rtol: 0, atol: 0), "the speed check drew from torch's global random generator");
            Assert.Equal(2, get_num_threads());
        }
        finally
        {
            set_num_threads(before);
        }
    }

    [Fact]
    public void RefusesAModelThatIsNotFloat32()
    {
        using var model = nn.Linear(2, 2);
        model.to(ScalarType.Float64);
        Assert.Throws<ArgumentException>(() => new BFloat16Training(model));
    }
}
