// Attribution: which fields and characters drove a mixer's predictions? Trains a small binary mixer on the credit
// scoring data (is an applicant a bad risk?), saves and reloads it, then explains the reloaded model: per-row
// attributions as columns, field importance beside raw-column permutation importance, and an HTML/CSV report.
//
//   ./dotnet run --project samples/Attribution -c Release -- [output folder]
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers;

string outputFolder = args.Length > 0 ? args[0] : Path.Combine(Environment.CurrentDirectory, "attribution-report");
var ml = new MLContext(seed: 1);
// The explainer reports progress through the MLContext log.
ml.Log += (_, e) => { if (e.Message.StartsWith("Attribution:", StringComparison.Ordinal) || e.Message.StartsWith("Permutation importance:", StringComparison.Ordinal)) Console.WriteLine(e.Message); };

string[] numbers = ["Seniority", "Time", "Age", "Expenses", "Income", "Assets", "Debt", "Amount", "Price"];
string[] texts = ["Home", "Marital", "Records", "Job"];
TextLoader.Column[] columns =
[
    new("Status", DataKind.String, 0), new("Seniority", DataKind.Single, 1), new("Home", DataKind.String, 2),
    new("Time", DataKind.Single, 3), new("Age", DataKind.Single, 4), new("Marital", DataKind.String, 5),
    new("Records", DataKind.String, 6), new("Job", DataKind.String, 7), new("Expenses", DataKind.Single, 8),
    new("Income", DataKind.Single, 9), new("Assets", DataKind.Single, 10), new("Debt", DataKind.Single, 11),
    new("Amount", DataKind.Single, 12), new("Price", DataKind.Single, 13),
];
var data = ml.Data.LoadFromTextFile(Path.Combine(AppContext.BaseDirectory, "data", "credit_data.csv"), columns, separatorChar: ',', hasHeader: true, allowQuoting: true);
var split = ml.Data.TrainTestSplit(data, testFraction: 0.25, seed: 1);

var pipeline = ml.Transforms.Conversion.MapValue("Label", new Dictionary<string, bool> { ["bad"] = true, ["good"] = false }, "Status")
    .Append(ml.Transforms.EncodeAsCharacters("Features", [.. numbers, .. texts]))
    .Append(ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options { Width = 32, Depth = 2, Epochs = 8 }));
var trained = pipeline.Fit(split.TrainSet);
Console.WriteLine($"Held-out AUC {ml.BinaryClassification.Evaluate(trained.Transform(split.TestSet)).AreaUnderRocCurve:F3}");

// Explanations work on a model loaded from a zip (the explainer itself is not saved: it is rebuilt from the model).
string zip = Path.Combine(Path.GetTempPath(), "credit-mixer.zip");
ml.Model.Save(trained, data.Schema, zip);
var model = ml.Model.Load(zip, out _);

// Per-row columns: integrated gradients of the log-odds of "bad" (class 1; by default the predicted class), summed per field.
var options = new MixerExplainOptions { TargetClass = 1 };
var explained = ml.Transforms.ExplainMixer(model, options).Fit(split.TestSet).Transform(ml.Data.TakeRows(split.TestSet, 3));
foreach (var row in ml.Data.CreateEnumerable<Explanation>(explained, reuseRowObject: false))
{
    var top = row.FieldAttributions.Select((a, i) => (a, i)).OrderByDescending(x => Math.Abs(x.a)).Take(3);
    Console.WriteLine($"P(bad) = {row.Probability:F2}; completeness gap {row.CompletenessGap:E1}; top fields: " +
        string.Join(", ", top.Select(x => $"{FieldName(explained, x.i)} {x.a:+0.00;-0.00}")));
}

// Dataset level: mean |attribution| per field beside permutation importance of the raw columns, then the report.
var explainer = ml.Transforms.CreateMixerExplainer(model, options);
var report = explainer.CreateReport(split.TestSet, rowsShown: 20, maxRows: 200, labelColumnName: "Label", permutations: 3,
    title: "Credit risk mixer: what drives P(bad)?");
Console.WriteLine($"{"field",-12} {"mean |IG|",10}   {"permutation: drop in " + explainer.MetricName,30}");
foreach (var field in report.FieldImportance)
{
    var permutation = report.PermutationImportance!.First(p => p.Field == field.Field);
    Console.WriteLine($"{field.Field,-12} {field.Mean,10:F3}   {permutation.Mean,22:F4} ± {permutation.StandardDeviation:F4}");
}
Console.WriteLine($"Report: {report.Save(outputFolder)}");

static string FieldName(IDataView data, int slot)
{
    VBuffer<ReadOnlyMemory<char>> names = default;
    data.Schema["FieldAttributions"].GetSlotNames(ref names);
    return names.GetItemOrDefault(slot).ToString();
}

internal sealed class Explanation
{
    public float Probability { get; set; }
    public float[] FieldAttributions { get; set; } = [];
    public float CompletenessGap { get; set; }
}
