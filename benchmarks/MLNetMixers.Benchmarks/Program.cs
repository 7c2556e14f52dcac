// Runs every benchmark in one process and writes benchmarks/RESULTS.md.
//   ./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release                 (everything)
//   ./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release -- --only Sgemm  (one)
//   ./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release -- --smoke       (one tiny step each)
using MLNetMixers.Benchmarks;

bool smoke = args.Contains("--smoke");
var only = args.SkipWhile(a => a != "--only").Skip(1).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
string datasets = BenchmarkRunner.FindDatasetsFolder();
string command = "./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release" + (args.Length > 0 ? " -- " + string.Join(' ', args) : "");
string report = BenchmarkRunner.Run(smoke, only, Console.Out, datasets, command);
string output = smoke
    ? Path.Combine(Path.GetTempPath(), "mlnetmixers-benchmarks-smoke.md")
    : Path.Combine(FindRepo(), "benchmarks", "RESULTS.md");
File.WriteAllText(output, report);
Console.WriteLine($"Report written to {output}");

static string FindRepo()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "MLNetMixers.sln")))
            return dir.FullName;
    throw new DirectoryNotFoundException("MLNetMixers.sln not found");
}
