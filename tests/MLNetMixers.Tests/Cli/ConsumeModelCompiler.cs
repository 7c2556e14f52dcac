using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace MLNetMixers.Tests.Cli;

/// <summary>Compiles a generated ConsumeModel.cs with Roslyn against the assemblies this test runs with, and loads it.</summary>
internal static class ConsumeModelCompiler
{
    public static Assembly Compile(string sourcePath)
    {
        var tree = CSharpSyntaxTree.ParseText(File.ReadAllText(sourcePath), new CSharpParseOptions(LanguageVersion.Latest), sourcePath);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create(
            "ConsumeModel_" + Guid.NewGuid().ToString("N"),
            [tree],
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        var problems = result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()).ToList();
        Assert.True(result.Success, "ConsumeModel.cs does not compile:\n" + string.Join("\n", problems));
        Assert.True(problems.Count == 0, "ConsumeModel.cs compiles with warnings:\n" + string.Join("\n", problems));
        return Assembly.Load(image.ToArray());
    }

    /// <summary>Runs <c>ConsumeModel.Predict(ConsumeModel.SampleInput())</c> with the model at <paramref name="modelPath"/>.</summary>
    public static object PredictSample(Assembly assembly, string modelPath)
    {
        var consume = assembly.GetType("MixerModel.ConsumeModel", throwOnError: true)!;
        consume.GetProperty("ModelPath")!.SetValue(null, modelPath);
        object input = consume.GetMethod("SampleInput")!.Invoke(null, null)!;
        return consume.GetMethod("Predict")!.Invoke(null, [input])!;
    }

    public static T Get<T>(object output, string property) => (T)output.GetType().GetProperty(property)!.GetValue(output)!;
}
