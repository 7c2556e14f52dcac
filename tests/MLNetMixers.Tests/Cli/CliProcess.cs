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

    public static CliResult Run(TimeSpan timeout, params string[] args) => Run(timeout, null, args);

    /// <summary>
    /// Runs the CLI and, once <paramref name="signal"/>'s text appears on stdout, sends it the signal (INT for Ctrl+C,
    /// KILL); <see cref="CliResult.Elapsed"/> is then the time from the signal to the exit.
    /// </summary>
    public static CliResult Run(TimeSpan timeout, (string AfterText, string Signal, int Times)? signal, params string[] args)
        => RunDll(CliDll, timeout, signal, args);

    /// <summary>Runs another program of the repository (<c>dotnet program.dll ...</c>) the same way.</summary>
    public static CliResult RunDll(string dll, TimeSpan timeout, params string[] args) => RunDll(dll, timeout, null, args);

    private static CliResult RunDll(string dll, TimeSpan timeout, (string AfterText, string Signal, int Times)? signal, string[] args)
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
        var output = new System.Text.StringBuilder();
        var seen = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (output)
                output.AppendLine(e.Data);
            if (signal is { } s && e.Data.Contains(s.AfterText, StringComparison.Ordinal))
                seen.Set();
        };
        process.BeginOutputReadLine();
        var stdout = Task.Run(() => { process.WaitForExit(); lock (output) return output.ToString(); });
        var stderr = process.StandardError.ReadToEndAsync();
        if (signal is { } send)
        {
            if (!seen.Wait(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"'{send.AfterText}' never appeared on stdout.\n{stdout.Result}\n{stderr.Result}");
            }
            for (int i = 0; i < send.Times; i++)
            {
                if (i > 0)
                    Thread.Sleep(300);
                using var kill = Process.Start("kill", ["-" + send.Signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                kill.WaitForExit();
            }
            clock.Restart();
        }
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mlnet-mixers {string.Join(' ', args)} ran longer than {timeout}.\n{stdout.Result}\n{stderr.Result}");
        }
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }

    /// <summary>
    /// The dotnet host running this test, else the one in DOTNET_ROOT (xunit.v3 runs the tests through their app host;
    /// ./dotnet points DOTNET_ROOT at its patched host while MSBuild resets DOTNET_HOST_PATH), else DOTNET_HOST_PATH,
    /// else dotnet on PATH.
    /// </summary>
    private static string DotnetHost()
    {
        string? current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
            return current;
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        string? rootHost = root is null ? null : Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        if (rootHost is not null && File.Exists(rootHost))
            return rootHost;
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
