using System.Diagnostics;
using System.Runtime.InteropServices;
using MLNetMixers.Cli.Terminal;

namespace MLNetMixers.Cli.Commands;

/// <summary>
/// A run's output folder, written in a hidden staging folder and moved into place only when the run completes, so a
/// failed, cancelled or killed run leaves the previous outputs whole and no new empty folders. A new folder is
/// renamed into place in one step. In an existing folder the previous run's files (and only those: the user's
/// other files stay) are first moved aside into a hidden ".old" folder, then the new files are renamed in, so the
/// folder never mixes two runs' files; a kill within those few renames leaves the previous run in the ".old" folder.
/// </summary>
internal sealed class StagedFolder : IDisposable
{
    private const string Hidden = ".mlnet-mixers";
    private readonly string destination;
    private readonly IReadOnlyCollection<string> runFiles;
    private readonly List<string> createdParents;
    private bool committed;

    private StagedFolder(string destination, string staging, IReadOnlyCollection<string> runFiles, List<string> createdParents)
    {
        this.destination = destination;
        Path = staging;
        this.runFiles = runFiles;
        this.createdParents = createdParents;
    }

    /// <summary>The staging folder the run writes into.</summary>
    public string Path { get; }

    /// <summary>The folder the outputs end up in.</summary>
    public string Destination => destination;

    /// <param name="output">The --output folder.</param>
    /// <param name="runFiles">The file names a run of this command writes: the previous run's files, replaced as a whole.</param>
    /// <param name="inputs">The run's input files, which must not be one of the files the run replaces.</param>
    public static StagedFolder Begin(string output, IReadOnlyCollection<string> runFiles, IEnumerable<string> inputs, ConsoleUi ui, string option = "--output")
    {
        if (string.IsNullOrWhiteSpace(output))
            throw new CliException($"{option} is empty; give a folder for the run's outputs.");
        string destination = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(output));
        if (File.Exists(destination))
            throw new CliException($"{option} '{output}' is an existing file; give a folder for the run's outputs (it is created if missing).");
        foreach (string input in inputs)
        {
            foreach (string name in runFiles)
            {
                if (PathIdentity.Same(input, System.IO.Path.Combine(destination, name)))
                    throw new CliException($"{option} '{output}' would replace the input file '{input}' with the run's {name}; choose another output folder.");
            }
        }

        List<string> created;
        string staging;
        if (Directory.Exists(destination))
        {
            var previous = runFiles.Where(f => File.Exists(System.IO.Path.Combine(destination, f))).Order(StringComparer.Ordinal).ToList();
            if (previous.Count > 0)
                ui.Warning($"{option} '{output}' holds a previous run's files ({string.Join(", ", previous)}); they are replaced together when this run completes, and kept if it fails or is cancelled.");
            created = [];
            RemoveStale(destination, $"{Hidden}.partial-*");
            staging = System.IO.Path.Combine(destination, $"{Hidden}.partial-{Environment.ProcessId}");
        }
        else
        {
            string parent = System.IO.Path.GetDirectoryName(destination) ?? throw new CliException($"{option} '{output}' is a root folder; give a folder below it.");
            created = CreateParents(parent, output, option);
            RemoveStale(parent, $".{System.IO.Path.GetFileName(destination)}.partial-*");
            staging = System.IO.Path.Combine(parent, $".{System.IO.Path.GetFileName(destination)}.partial-{Environment.ProcessId}");
        }
        try
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            RemoveEmpty(created);
            throw new CliException($"Cannot write {option} '{output}': {Reason(e)}.", e);
        }
        var folder = new StagedFolder(destination, staging, runFiles, created);
        CliApp.DiscardOnExit.Add(folder.Dispose);
        return folder;
    }

    /// <summary>Moves the staged outputs into place; returns the names of the files this run wrote.</summary>
    public IReadOnlyList<string> Commit()
    {
        var written = Directory.GetFiles(Path).Select(f => System.IO.Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToList();
        if (!Directory.Exists(destination))
        {
            Directory.Move(Path, destination);
            committed = true;
            return written;
        }
        string old = System.IO.Path.Combine(destination, $"{Hidden}.old-{Environment.ProcessId}");
        Directory.CreateDirectory(old);
        foreach (string name in runFiles)
        {
            string previous = System.IO.Path.Combine(destination, name);
            if (File.Exists(previous))
                File.Move(previous, System.IO.Path.Combine(old, name));
        }
        foreach (string name in written)
            File.Move(System.IO.Path.Combine(Path, name), System.IO.Path.Combine(destination, name));
        committed = true;
        Directory.Delete(old, recursive: true);
        Directory.Delete(Path, recursive: true);
        return written;
    }

    public void Dispose()
    {
        CliApp.DiscardOnExit.Remove(Dispose);
        if (committed)
            return;
        try
        {
            if (Directory.Exists(Path))
                Directory.Delete(Path, recursive: true);
            RemoveEmpty(createdParents);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Cleaning up after a failure must not hide the failure itself.
        }
    }

    /// <summary>Creates the missing folders above the output; returns them, deepest first, to remove if the run fails.</summary>
    internal static List<string> CreateParents(string parent, string output, string option)
    {
        var missing = new List<string>();
        for (string? dir = parent; dir is not null && !Directory.Exists(dir); dir = System.IO.Path.GetDirectoryName(dir))
        {
            if (File.Exists(dir))
                throw new CliException($"Cannot create {option} '{output}': '{dir}' is a file, not a folder.");
            missing.Add(dir);
        }
        try
        {
            for (int i = missing.Count - 1; i >= 0; i--)
                Directory.CreateDirectory(missing[i]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            RemoveEmpty(missing);
            throw new CliException($"Cannot create {option} '{output}': {Reason(e)}.", e);
        }
        return missing;
    }

    internal static void RemoveEmpty(List<string> folders)
    {
        foreach (string dir in folders)
        {
            try
            {
                if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
                    Directory.Delete(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    internal static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        _ when e.Message.Contains("Read-only", StringComparison.OrdinalIgnoreCase) => "the file system is read-only",
        _ => e.Message.TrimEnd('.'),
    };

    /// <summary>Staging folders of killed runs (their process is gone) are leftovers; a live run's are not touched.</summary>
    private static void RemoveStale(string folder, string pattern)
    {
        foreach (string dir in Directory.EnumerateDirectories(folder, pattern))
        {
            if (int.TryParse(dir[(dir.LastIndexOf('-') + 1)..], out int pid) && !IsRunning(pid))
            {
                try { Directory.Delete(dir, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

/// <summary>A single output file (predict's CSV) written beside its destination and renamed over it when complete.</summary>
internal static class StagedFile
{
    /// <summary>Checks the destination before anything is read or written: not a folder, not an input, creatable.</summary>
    public static string Check(string output, IEnumerable<(string Option, string Path)> inputs, string option = "--output")
    {
        if (string.IsNullOrWhiteSpace(output))
            throw new CliException($"{option} is empty; give a file name.");
        string full = System.IO.Path.GetFullPath(output);
        if (Directory.Exists(full) || output.EndsWith('/') || output.EndsWith(System.IO.Path.DirectorySeparatorChar))
            throw new CliException($"{option} '{output}' is a folder; give a file name, e.g. '{System.IO.Path.Combine(output, "predictions.csv")}'.");
        foreach (var (inputOption, path) in inputs)
        {
            if (PathIdentity.Same(path, full))
                throw new CliException($"{option} '{output}' is the same file as {inputOption} '{path}'; writing it would destroy the input. Give another file name.");
        }
        return full;
    }

    /// <summary>Writes through <paramref name="write"/> into a temporary file beside <paramref name="destination"/>, then renames it over.</summary>
    public static T Write<T>(string destination, string output, Func<string, T> write, string option = "--output")
    {
        string folder = System.IO.Path.GetDirectoryName(destination)!;
        var created = StagedFolder.CreateParents(folder, output, option);
        string temp = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(destination)}.partial-{Environment.ProcessId}");
        bool done = false;
        try
        {
            T result;
            try
            {
                result = write(temp);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"Cannot write {option} '{output}': {StagedFolder.Reason(e)}.", e);
            }
            // A rename replaces the directory entry: an existing file (or a link to an input) is never truncated.
            File.Move(temp, destination, overwrite: true);
            done = true;
            return result;
        }
        finally
        {
            if (!done)
            {
                try { File.Delete(temp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
                StagedFolder.RemoveEmpty(created);
            }
        }
    }
}

/// <summary>Whether two paths name the same file, through relative paths, symbolic links and hard links.</summary>
internal static class PathIdentity
{
    public static bool Same(string a, string b)
    {
        string ra = Resolve(a), rb = Resolve(b);
        if (string.Equals(ra, rb, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
            return true;
        return File.Exists(ra) && File.Exists(rb) && FileId(ra) is { } ia && FileId(rb) is { } ib && ia == ib;
    }

    /// <summary>Whether <paramref name="file"/> lies inside <paramref name="folder"/> (after resolving links).</summary>
    public static bool IsInside(string file, string folder)
    {
        string f = Resolve(file), d = System.IO.Path.TrimEndingDirectorySeparator(Resolve(folder)) + System.IO.Path.DirectorySeparatorChar;
        return f.StartsWith(d, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }

    /// <summary>The full path with every symbolic link resolved (for a missing file, its folder's resolved path and its name).</summary>
    public static string Resolve(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (!OperatingSystem.IsWindows())
        {
            string? real = RealPath(full);
            if (real is not null)
                return real;
            string? parent = System.IO.Path.GetDirectoryName(full);
            if (parent is not null && RealPath(parent) is { } realParent)
                return System.IO.Path.Combine(realParent, System.IO.Path.GetFileName(full));
        }
        return full;
    }

    private static string? RealPath(string path)
    {
        IntPtr result = realpath(path, IntPtr.Zero);
        if (result == IntPtr.Zero)
            return null;
        try
        {
            return Marshal.PtrToStringUTF8(result);
        }
        finally
        {
            free(result);
        }
    }

    /// <summary>The (device, inode) pair that hard links share; Linux only (elsewhere paths are compared).</summary>
    private static (ulong, ulong)? FileId(string path)
    {
        if (!OperatingSystem.IsLinux())
            return null;
        // struct stat on Linux x64 and arm64 starts with st_dev then st_ino (both 64-bit).
        var buffer = new byte[256];
        try
        {
            if (stat(path, buffer) != 0)
                return null;
        }
        catch (EntryPointNotFoundException)
        {
            return null; // glibc before 2.33 exports only __xstat.
        }
        return (BitConverter.ToUInt64(buffer, 0), BitConverter.ToUInt64(buffer, 8));
    }

    [DllImport("libc", EntryPoint = "realpath")]
    private static extern IntPtr realpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void free(IntPtr pointer);

    [DllImport("libc", EntryPoint = "stat")]
    private static extern int stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);
}
