using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Finds every <see cref="IBenchmark"/>, runs the selected ones, writes each one's section to
/// <c>results/&lt;Name&gt;.md</c> and assembles the report from every section file present, so that
/// <c>--only X</c> refreshes one section without discarding the others.
/// </summary>
internal static partial class BenchmarkRunner
{
    public static IReadOnlyList<IBenchmark> All() => typeof(BenchmarkRunner).Assembly.GetTypes()
        .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
        .OrderBy(b => b.Name, StringComparer.Ordinal)
        .ToList();

    /// <summary>
    /// Runs the selected benchmarks (all when <paramref name="only"/> is empty), writes their sections into
    /// <paramref name="resultsFolder"/>, and returns the report assembled from every section in that folder.
    /// </summary>
    public static string Run(bool smoke, IReadOnlyCollection<string>? only, TextWriter log, string datasetsFolder, string command,
                             string? resultsFolder = null)
    {
        resultsFolder ??= Path.Combine(Path.GetTempPath(), "mlnetmixers-benchmarks-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(resultsFolder);
        var selected = All().Where(b => only is null || only.Count == 0 || only.Contains(b.Name, StringComparer.OrdinalIgnoreCase)).ToList();
        if (only is { Count: > 0 } && selected.Count != only.Count)
            throw new ArgumentException($"Unknown benchmark name in --only {string.Join(' ', only)}. Known: {string.Join(", ", All().Select(b => b.Name))}.");
        int callerThreads = TorchSharp.torch.get_num_threads();
        try
        {
            return RunSelected(smoke, selected, log, datasetsFolder, command, resultsFolder);
        }
        finally
        {
            // The smoke mode runs inside the test process: later tests get the thread count they had.
            TorchSharp.torch.set_num_threads(callerThreads);
        }
    }

    private static string RunSelected(bool smoke, IReadOnlyList<IBenchmark> selected, TextWriter log, string datasetsFolder, string command, string resultsFolder)
    {
        // Smoke mode runs inside the test suite on a shared CI machine, where one torch thread is far faster than two
        // contending ones (every parallel region waits for a descheduled thread).
        if (smoke)
            TorchSharp.torch.set_num_threads(1);
        // MLNETMIXERS_BENCH_THREADS=1 measures at one torch thread (e.g. on a machine other jobs keep busy).
        if (int.TryParse(Environment.GetEnvironmentVariable("MLNETMIXERS_BENCH_THREADS"), out int threads) && threads > 0)
            TorchSharp.torch.set_num_threads(threads);
        // Every section starts on the same thread count, whatever the one before it left behind.
        int torchThreads = TorchSharp.torch.get_num_threads();
        foreach (var benchmark in selected)
        {
            TorchSharp.torch.set_num_threads(torchThreads);
            var context = new BenchmarkContext(smoke, log, datasetsFolder);
            log.WriteLine($"== {benchmark.Name}{(smoke ? " (smoke)" : "")}");
            string loadBefore = LoadAverage();
            var watch = Stopwatch.StartNew();
            benchmark.Run(context);
            log.WriteLine($"   done in {watch.Elapsed.TotalSeconds:F1} s");
            var section = new StringBuilder();
            section.AppendLine($"# {benchmark.Name}").AppendLine();
            section.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC in {watch.Elapsed.TotalSeconds:F0} s{(smoke ? " (SMOKE MODE: figures meaningless)" : "")}; "
                               + $"load average (1/5/15 min) before {loadBefore}, after {LoadAverage()} on {Environment.ProcessorCount} cores of {CpuModel()}; {TorchSharp.torch.get_num_threads()} torch thread(s). "
                               + $"Refresh with `{BaseCommand} -- --only {benchmark.Name}`.").AppendLine();
            section.Append(context.Report);
            File.WriteAllText(Path.Combine(resultsFolder, benchmark.Name + ".md"), section.ToString());
        }
        return Assemble(resultsFolder, command);
    }

    public const string BaseCommand = "./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release";

    /// <summary>The header (machine, versions, command) followed by every section file in benchmark order.</summary>
    public static string Assemble(string resultsFolder, string command)
    {
        var report = new StringBuilder();
        report.AppendLine("# MLNetMixers benchmark results").AppendLine();
        report.AppendLine($"Assembled {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by `{command}`. Run everything with `{BaseCommand}` "
                          + "(writes benchmarks/results/*.md and this file); one section with `-- --only <Name>`; each section below says when it was measured.").AppendLine();
        report.AppendLine($"- Machine assembling this report: {CpuModel()}, {Environment.ProcessorCount} logical cores, AVX-512: {Flag("avx512f")}, AVX512-BF16: {Flag("avx512_bf16")}, AMX: {Flag("amx_tile")}; {RuntimeInformation.OSDescription}");
        report.AppendLine($"- .NET {Environment.Version}; TorchSharp {Version(typeof(TorchSharp.torch).Assembly)}; libtorch {LibTorchVersion()}; ML.NET {Version(typeof(Microsoft.ML.MLContext).Assembly)}");
        report.AppendLine("- Ratios in a table come from one run of that section. The machine may be shared: each section notes the load while it ran, and the CPU it ran on (this project's machines are not always the same model).");
        foreach (var benchmark in All())
        {
            string file = Path.Combine(resultsFolder, benchmark.Name + ".md");
            // Pictures are linked relative to results/; RESULTS.md sits one folder up.
            if (File.Exists(file))
                report.AppendLine().Append(System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(file), @"\]\((?![a-z]+:|/|#)([^)]+\.png)\)", "](results/$1)"));
        }
        return report.ToString();
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join('/', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string Version(Assembly assembly)
        => assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
           ?? assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>The libtorch native package version, read from the application's deps.json.</summary>
    private static string LibTorchVersion()
    {
        foreach (string deps in Directory.EnumerateFiles(AppContext.BaseDirectory, "*.deps.json"))
        {
            var match = LibTorchPackage().Match(File.ReadAllText(deps));
            if (match.Success)
                return match.Groups[1].Value;
        }
        return "unknown";
    }

    [GeneratedRegex(@"""libtorch-cpu-linux-x64/([0-9.]+)""")]
    private static partial Regex LibTorchPackage();

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>Whether /proc/cpuinfo lists <paramref name="flag"/> ("yes"/"no"/"unknown").</summary>
    public static string Flag(string flag) => HasCpuFlag(flag) switch { true => "yes", false => "no", null => "unknown" };

    public static bool? HasCpuFlag(string flag)
    {
        try
        {
            string? flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return flags?.Split(':', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(flag);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>../shared/datasets beside the folder holding MLNetMixers.sln.</summary>
    public static string FindDatasetsFolder() => Path.GetFullPath(Path.Combine(FindRepository(), "..", "shared", "datasets"));

    public static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MLNetMixers.sln")))
                return dir.FullName;
        }
        throw new DirectoryNotFoundException("Could not find MLNetMixers.sln above " + AppContext.BaseDirectory);
    }
}
