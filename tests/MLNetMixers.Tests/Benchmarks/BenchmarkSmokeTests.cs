using MLNetMixers.Benchmarks;

namespace MLNetMixers.Tests.Benchmarks;

/// <summary>Every benchmark runs one tiny step, so none of them can rot unnoticed.</summary>
public class BenchmarkSmokeTests
{
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var benchmark in BenchmarkRunner.All())
            data.Add(benchmark.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void BenchmarkRunsInSmokeMode(string name)
    {
        var log = new StringWriter();
        string report = BenchmarkRunner.Run(smoke: true, only: [name], log, TestData.DatasetsFolder, "smoke test");
        Assert.Contains($"# {name}", report);
        Assert.Contains("|", report);
    }
}
