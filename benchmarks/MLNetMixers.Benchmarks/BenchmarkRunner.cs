using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace MLNetMixers.Benchmarks;

/// <summary>Finds every <see cref="IBenchmark"/>, runs them in one process and writes one Markdown report.</summary>
internal static class BenchmarkRunner
{
    public static IReadOnlyList<IBenchmark> All() => typeof(BenchmarkRunner).Assembly.GetTypes()
        .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
        .OrderBy(b => b.Name, StringComparer.Ordinal)
        .ToList();

    /// <summary>Runs the selected benchmarks and returns the whole report as Markdown.</summary>
    public static string Run(bool smoke, IReadOnlyCollection<string>? only, TextWriter log, string datasetsFolder, string command)
    {
        var header = new StringBuilder();
        header.AppendLine("# MLNetMixers benchmark results").AppendLine();
        header.AppendLine($"Produced by `{command}` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.").AppendLine();
        header.AppendLine($"- Machine: {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}, CPU: {CpuModel()}");
        header.AppendLine($"- .NET {Environment.Version}; TorchSharp {Version(typeof(TorchSharp.torch).Assembly)}; ML.NET {Version(typeof(Microsoft.ML.MLContext).Assembly)}");
        header.AppendLine("- All figures in one table come from the same run; compare ratios, not absolute times across runs.");

        var body = new StringBuilder();
        foreach (var benchmark in All().Where(b => only is null || only.Count == 0 || only.Contains(b.Name, StringComparer.OrdinalIgnoreCase)))
        {
            var context = new BenchmarkContext(smoke, log, datasetsFolder);
            log.WriteLine($"== {benchmark.Name}{(smoke ? " (smoke)" : "")}");
            var watch = Stopwatch.StartNew();
            benchmark.Run(context);
            log.WriteLine($"   done in {watch.Elapsed.TotalSeconds:F1} s");
            body.AppendLine().AppendLine($"# {benchmark.Name}").Append(context.Report);
        }
        return header.Append(body).ToString();
    }

    private static string Version(Assembly assembly)
        => assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
           ?? assembly.GetName().Version?.ToString() ?? "unknown";

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

    /// <summary>../shared/datasets beside the folder holding MLNetMixers.sln.</summary>
    public static string FindDatasetsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MLNetMixers.sln")))
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "datasets"));
        }
        throw new DirectoryNotFoundException("Could not find MLNetMixers.sln above " + AppContext.BaseDirectory);
    }
}
