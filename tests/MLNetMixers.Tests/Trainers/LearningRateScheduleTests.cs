using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetMixers.Training;

namespace MLNetMixers.Tests.Trainers;

public class LearningRateScheduleTests
{
    private static MixerTrainingLoop Loop(LearningRateSchedule schedule)
    {
        var host = ((IHostEnvironment)new MLContext(seed: 1)).Register("test");
        var options = new MixerBinaryTrainer.Options { LearningRate = 0.01, Schedule = schedule };
        return new MixerTrainingLoop(host, options, new BinaryObjective(0, 1), TorchSharp.torch.CPU);
    }

    [Theory]
    [InlineData(LearningRateSchedule.Cosine)]
    [InlineData(LearningRateSchedule.Linear)]
    [InlineData(LearningRateSchedule.Constant)]
    public void WarmupRisesLinearlyToThePeakThenTheScheduleDecays(LearningRateSchedule schedule)
    {
        var loop = Loop(schedule);
        const long total = 110, warmup = 10;
        Assert.Equal(0.001, loop.LearningRateAt(0, total, warmup), 12);
        Assert.Equal(0.005, loop.LearningRateAt(4, total, warmup), 12);
        Assert.Equal(0.01, loop.LearningRateAt(9, total, warmup), 12);
        Assert.Equal(0.01, loop.LearningRateAt(10, total, warmup), 12);
        double middle = loop.LearningRateAt(60, total, warmup);
        double last = loop.LearningRateAt(109, total, warmup);
        switch (schedule)
        {
            case LearningRateSchedule.Cosine:
                Assert.Equal(0.005, middle, 12);
                Assert.Equal(0.01 * 0.5 * (1 + Math.Cos(Math.PI * 99 / 100)), last, 12);
                break;
            case LearningRateSchedule.Linear:
                Assert.Equal(0.005, middle, 12);
                Assert.Equal(0.0001, last, 12);
                break;
            default:
                Assert.Equal(0.01, middle);
                Assert.Equal(0.01, last);
                break;
        }
        var steps = Enumerable.Range(0, (int)total).Select(s => loop.LearningRateAt(s, total, warmup)).ToArray();
        Assert.All(steps.Skip((int)warmup).Zip(steps.Skip((int)warmup + 1)), p => Assert.True(p.Second <= p.First));
    }

    [Fact]
    public void UnderATimeLimitTheScheduleFollowsWhicheverOfStepsAndTimeIsFurther()
    {
        var host = ((IHostEnvironment)new MLContext(seed: 1)).Register("test");
        var options = new MixerBinaryTrainer.Options { MaxTrainingTime = TimeSpan.FromSeconds(10) };
        var loop = new MixerTrainingLoop(host, options, new BinaryObjective(0, 1), TorchSharp.torch.CPU);
        Assert.Equal(500, loop.ScheduleStep(10, 1000, TimeSpan.FromSeconds(5)));
        Assert.Equal(600, loop.ScheduleStep(600, 1000, TimeSpan.FromSeconds(5)));
        Assert.Equal(999, loop.ScheduleStep(10, 1000, TimeSpan.FromSeconds(30)));
        Assert.Equal(10, Loop(LearningRateSchedule.Cosine).ScheduleStep(10, 1000, TimeSpan.FromHours(1)));
    }

    [Fact]
    public void NoWarmupStartsAtThePeak()
        => Assert.Equal(0.01, Loop(LearningRateSchedule.Cosine).LearningRateAt(0, 100, 0), 12);
}
