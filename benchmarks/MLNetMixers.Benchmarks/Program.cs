// Runs the benchmarks in one process: each writes benchmarks/results/<Name>.md, then benchmarks/RESULTS.md is
// assembled from every section file.
//   ./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release                      (everything, ~45 min)
//   ./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release -- --only ModelStep   (one section)
//   ./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release -- --smoke            (one tiny step each, to a temp folder)
//   ./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release -- --assemble         (RESULTS.md from the section files, nothing run)
using MLNetMixers.Benchmarks;

bool smoke = args.Contains("--smoke");
var only = args.SkipWhile(a => a != "--only").Skip(1).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
string repository = BenchmarkRunner.FindRepository();
string command = BenchmarkRunner.BaseCommand + (args.Length > 0 ? " -- " + string.Join(' ', args) : "");
if (args.Contains("--assemble"))
{
    // Branches that each refreshed their own sections meet in RESULTS.md: rebuild it from the section files.
    string assembled = Path.Combine(repository, "benchmarks", "RESULTS.md");
    File.WriteAllText(assembled, BenchmarkRunner.Assemble(Path.Combine(repository, "benchmarks", "results"), command));
    Console.WriteLine($"Report written to {assembled}");
    return;
}
// MLNETMIXERS_RESULTS_FOLDER: somewhere else than benchmarks/results, so that two benchmark processes sharing the
// machine (one model each) do not overwrite each other's section.
string resultsFolder = smoke
    ? Path.Combine(Path.GetTempPath(), "mlnetmixers-benchmarks-smoke")
    : Environment.GetEnvironmentVariable("MLNETMIXERS_RESULTS_FOLDER") is { Length: > 0 } folder ? folder : Path.Combine(repository, "benchmarks", "results");
Directory.CreateDirectory(resultsFolder);
string report = BenchmarkRunner.Run(smoke, only, Console.Out, BenchmarkRunner.FindDatasetsFolder(), command, resultsFolder);
string output = smoke || resultsFolder != Path.Combine(repository, "benchmarks", "results") ? Path.Combine(resultsFolder, "RESULTS.md") : Path.Combine(repository, "benchmarks", "RESULTS.md");
File.WriteAllText(output, report);
Console.WriteLine($"Report written to {output}");
