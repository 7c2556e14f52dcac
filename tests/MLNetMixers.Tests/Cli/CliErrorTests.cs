using System.IO.Compression;

namespace MLNetMixers.Tests.Cli;

/// <summary>Bad input gives one clear line on stderr, exit code 1, and no stack trace unless --verbose.</summary>
[Collection(CliCollection.Name)]
public sealed class CliErrorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private readonly string folder = TestData.NewTempFolder();

    [Fact]
    public void Missing_dataset_is_named()
    {
        string path = Path.Combine(folder, "absent.csv");
        var result = CliProcess.Run(Timeout, "classification", "--dataset", path, "--label-col", "y");
        AssertUserError(result, $"File not found: '{path}'");
    }

    [Fact]
    public void Empty_and_header_only_files_are_reported()
    {
        string empty = Write("empty.csv", "");
        AssertUserError(CliProcess.Run(Timeout, "classification", "-d", empty, "-l", "y"), "is empty");
        string headerOnly = Write("header.csv", "a,b,y\n");
        AssertUserError(CliProcess.Run(Timeout, "classification", "-d", headerOnly, "-l", "y"), "has a header but no data rows");
    }

    [Fact]
    public void Absent_label_lists_the_available_columns()
    {
        var result = CliProcess.Run(Timeout, "classification", "-d", TestData.Tabular("weka_diabetes.csv"), "-l", "outcome");
        AssertUserError(result, "Label column 'outcome' is not in weka_diabetes.csv. Available columns: preg, plas, pres, skin, insu, mass, pedi, age, class.");
    }

    [Fact]
    public void Label_with_one_class_is_rejected()
    {
        string path = Write("one-class.csv", "x,y\n1,a\n2,a\n3,a\n,a\n");
        AssertUserError(CliProcess.Run(Timeout, "classification", "-d", path, "-l", "y"), "Label column 'y' has only one class ('a')");
    }

    [Fact]
    public void Non_numeric_regression_label_names_the_value_and_line()
    {
        string path = Write("regression.csv", "x,y\n1,2.5\n2,3.5\n3,n/a-ish\n4,1\n");
        AssertUserError(CliProcess.Run(Timeout, "regression", "-d", path, "-l", "y"), "column 'y' holds 'n/a-ish' at line 4");
    }

    [Fact]
    public void Malformed_row_gives_its_line_number()
    {
        // Line 3 holds a quoted line break (still one record); the record on line 5 has an extra field.
        string path = Write("malformed.csv", "x,note,y\n1,plain,a\n2,\"two\nlines\",b\n3,\"x,y\",a,extra\n4,ok,b\n");
        AssertUserError(CliProcess.Run(Timeout, "classification", "-d", path, "-l", "y"),
            "Malformed row at line 5 of 'malformed.csv': 4 fields where the header has 3");
    }

    [Fact]
    public void Zip_made_by_something_else_is_not_a_model()
    {
        string zip = Path.Combine(folder, "photos.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            using var entry = new StreamWriter(archive.CreateEntry("readme.txt").Open());
            entry.Write("not a model");
        }
        var result = CliProcess.Run(Timeout, "predict", "--model", zip, "--dataset", TestData.Tabular("weka_diabetes.csv"), "--output", Path.Combine(folder, "p.csv"));
        AssertUserError(result, $"'{zip}' is not an ML.NET model zip that mlnet-mixers can load");
        Assert.False(File.Exists(Path.Combine(folder, "p.csv")));
    }

    [Fact]
    public void Verbose_adds_the_stack_trace()
    {
        string path = Path.Combine(folder, "absent.csv");
        var result = CliProcess.Run(Timeout, "classification", "--dataset", path, "--label-col", "y", "--verbose");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("error: File not found", result.Stderr);
        Assert.Contains("   at ", result.Stderr);
    }

    [Fact]
    public void Unknown_option_is_a_usage_error()
    {
        var result = CliProcess.Run(Timeout, "classification", "--dataset", "x.csv", "--label-col", "y", "--epochz", "3");
        Assert.True(result.ExitCode != 0, result.ToString());
        Assert.Contains("--epochz", result.Stdout + result.Stderr);
    }

    private string Write(string name, string content)
    {
        string path = Path.Combine(folder, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static void AssertUserError(CliResult result, string expected)
    {
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("error: " , result.Stderr);
        Assert.Contains(expected, result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Exception", result.Stderr);
    }
}

/// <summary>CLI tests run one at a time: each process trains with torch, and the CI machine has two cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CliCollection
{
    public const string Name = "CLI processes";
}
