namespace MLNetMixers.Tests;

/// <summary>Locates the shared datasets (../shared/datasets beside the repository) and scratch folders.</summary>
internal static class TestData
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string DatasetsFolder => Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "datasets"));

    /// <summary>Full path of a shared tabular dataset, e.g. <c>Tabular("penguins.csv")</c>.</summary>
    public static string Tabular(string fileName) => Existing(Path.Combine(DatasetsFolder, "tabular", fileName));

    /// <summary>Full path of a shared text corpus, e.g. <c>Text("fortunes.txt")</c>.</summary>
    public static string Text(string fileName) => Existing(Path.Combine(DatasetsFolder, "text", fileName));

    /// <summary>A new empty folder under the system temp folder.</summary>
    public static string NewTempFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "mlnetmixers-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    private static string Existing(string path) => File.Exists(path)
        ? path
        : throw new FileNotFoundException($"Shared dataset not found at '{path}'. The tests expect the shared/ folder beside the repository checkout.", path);

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MLNetMixers.sln")))
                return dir.FullName;
        }
        throw new DirectoryNotFoundException("Could not find MLNetMixers.sln above " + AppContext.BaseDirectory);
    }
}
