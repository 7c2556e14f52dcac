using System.Diagnostics;

namespace MLNetMixers.Tests.Cli;

/// <summary>The result of one run of mlnet-mixers as a separate process.</summary>
internal sealed record CliResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:F1} s\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Runs the CLI the way a user does: <c>dotnet mlnet-mixers.dll ...</c>, with the same dotnet host that runs the
/// tests (on Debian 12 the repository's patched host, which TorchSharp needs) and its DOTNET_ROOT.
/// </summary>
internal static class CliProcess
{
    public static string CliDll { get; } = FindCliDll();

    public static CliResult Run(TimeSpan timeout, params string[] args) => RunDll(CliDll, timeout, args);

    /// <summary>Runs another program of the repository (<c>dotnet program.dll ...</c>) the same way.</summary>
    public static CliResult RunDll(string dll, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = TestData.RepositoryRoot,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
            StandardErrorEncoding = System.Text.Encoding.UTF8,
        };
        start.ArgumentList.Add(dll);
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT") ?? Path.GetDirectoryName(start.FileName);
        if (root is not null)
            start.Environment["DOTNET_ROOT"] = root;

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start " + start.FileName);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileNameWithoutExtension(dll)} {string.Join(' ', args)} ran longer than {timeout}.\n{stdout.Result}\n{stderr.Result}");
        }
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }

    /// <summary>The dotnet host running this test (so the CLI gets the same runtime set-up), else DOTNET_HOST_PATH, else dotnet on PATH.</summary>
    private static string DotnetHost()
    {
        string? current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
            return current;
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
    }

    private static string FindCliDll()
    {
        // The test project builds the CLI (ProjectReference without referencing its assembly) in the same configuration.
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        string folder = Path.Combine(TestData.RepositoryRoot, "src", "MLNetMixers.Cli", "bin");
        string preferred = Path.Combine(folder, configuration, "net10.0", "mlnet-mixers.dll");
        if (File.Exists(preferred))
            return preferred;
        string? any = Directory.Exists(folder) ? Directory.GetFiles(folder, "mlnet-mixers.dll", SearchOption.AllDirectories).FirstOrDefault() : null;
        return any ?? throw new FileNotFoundException($"mlnet-mixers.dll not found under {folder}; build src/MLNetMixers.Cli first.");
    }
}
