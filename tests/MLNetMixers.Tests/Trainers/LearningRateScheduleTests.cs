using MLNetMixers.Training;

namespace MLNetMixers.Tests.Trainers;

public class LearningRateScheduleTests
{
    [Theory]
    [InlineData(LearningRateSchedule.Cosine)]
    [InlineData(LearningRateSchedule.Linear)]
    [InlineData(LearningRateSchedule.Constant)]
    public void WarmupRisesLinearlyToThePeakThenTheScheduleDecays(LearningRateSchedule decay)
    {
        const long total = 110, warmup = 10;
        var schedule = new WarmupDecaySchedule(0.01, total, warmup, decay);
        Assert.Equal(0.001, schedule.At(0), 12);
        Assert.Equal(0.005, schedule.At(4), 12);
        Assert.Equal(0.01, schedule.At(9), 12);
        Assert.Equal(0.01, schedule.At(10), 12);
        double middle = schedule.At(60);
        double last = schedule.At(109);
        switch (decay)
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
        var steps = Enumerable.Range(0, (int)total).Select(s => schedule.At(s)).ToArray();
        Assert.All(steps.Skip((int)warmup).Zip(steps.Skip((int)warmup + 1)), p => Assert.True(p.Second <= p.First));
    }

    [Fact]
    public void UnderATimeLimitTheScheduleFollowsWhicheverOfStepsAndTimeIsFurther()
    {
        var timed = new WarmupDecaySchedule(0.01, 1000, 10, LearningRateSchedule.Cosine, TimeBudget: TimeSpan.FromSeconds(10));
        Assert.Equal(500, timed.ScheduleStep(10, TimeSpan.FromSeconds(5)));
        Assert.Equal(600, timed.ScheduleStep(600, TimeSpan.FromSeconds(5)));
        Assert.Equal(999, timed.ScheduleStep(10, TimeSpan.FromSeconds(30)));
        Assert.Equal(timed.At(999), timed.At(10, TimeSpan.FromSeconds(30)));
        var untimed = timed with { TimeBudget = null };
        Assert.Equal(10, untimed.ScheduleStep(10, TimeSpan.FromHours(1)));
    }

    [Fact]
    public void WarmupByStepKeepsTheWarmupWhileTheClockRunsAhead()
    {
        // Retrieval's first steps are slow: a third of the budget gone after 3 steps must not skip its warm-up.
        var byTime = new WarmupDecaySchedule(0.01, 1000, 20, LearningRateSchedule.Cosine, FloorRatio: 0.1, TimeBudget: TimeSpan.FromSeconds(30));
        var byStep = byTime with { WarmupByStep = true };
        Assert.Equal(0.01 * 4 / 20, byStep.At(3, TimeSpan.FromSeconds(10)), 12);
        Assert.True(byTime.At(3, TimeSpan.FromSeconds(10)) > 0.005);
        // Past its warm-up steps it follows the clock like any other run, and ends at the floor.
        Assert.Equal(byTime.At(20, TimeSpan.FromSeconds(10)), byStep.At(20, TimeSpan.FromSeconds(10)), 12);
        Assert.Equal(0.001, byStep.At(25, TimeSpan.FromSeconds(31)), 4);
    }

    [Fact]
    public void NoWarmupStartsAtThePeak()
        => Assert.Equal(0.01, new WarmupDecaySchedule(0.01, 100, 0, LearningRateSchedule.Cosine).At(0), 12);

    [Fact]
    public void TheDecayEndsAtTheFloorAndStaysThere()
    {
        // The language models decay to LearningRate · MinLearningRateRatio.
        var schedule = new WarmupDecaySchedule(0.01, 100, 10, LearningRateSchedule.Cosine, FloorRatio: 0.1);
        Assert.Equal(0.01, schedule.At(10), 12);
        Assert.Equal(0.001 + 0.009 * 0.5 * (1 + Math.Cos(Math.PI * 89 / 90)), schedule.At(99), 12);
        Assert.Equal(0.001, schedule.At(100), 12);
        Assert.Equal(0.001, schedule.At(1000), 12);
    }
}
