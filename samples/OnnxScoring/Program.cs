// Scores a CSV with an ONNX scoring zip (written by `mlnet-mixers classification|regression` as model-onnx.zip, or by
// mlContext.Model.ConvertToOnnxScoring + Save) and shows that libtorch never loads.
//   dotnet run --project samples/OnnxScoring -- model-onnx.zip data.csv [rows]
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: OnnxScoring <model-onnx.zip> <data.csv> [rows]");
    return 1;
}
int rows = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;

var mlContext = new MLContext(seed: 1);
ITransformer model = mlContext.Model.Load(args[0], out var inputSchema);

// The zip's input schema is the CSV's columns in file order, so the loader reads them by position.
var columns = inputSchema.Select((c, i) => new TextLoader.Column(c.Name, KindOf(c.Type), i)).ToArray();
var data = mlContext.Data.LoadFromTextFile(args[1], columns, separatorChar: ',', hasHeader: true, allowQuoting: true);
var scored = model.Transform(mlContext.Data.TakeRows(data, rows));

string[] outputs = ["PredictedClass", "PredictedLabel", "Probability", "Score"];
var shown = outputs.Select(n => scored.Schema.GetColumnOrNull(n)).Where(c => c is not null).Select(c => c!.Value).ToList();
Console.WriteLine(string.Join("\t", shown.Select(c => c.Name)));
var preview = scored.Preview(rows);
foreach (var row in preview.RowView)
{
    var values = row.Values.ToDictionary(kv => kv.Key, kv => kv.Value);
    Console.WriteLine(string.Join("\t", shown.Select(c => Show(values[c.Name]))));
}

// Proof for the tests: which native libraries this process mapped.
bool libtorch = File.Exists("/proc/self/maps") && File.ReadLines("/proc/self/maps").Any(l => l.Contains("libtorch", StringComparison.Ordinal));
bool onnxRuntime = File.Exists("/proc/self/maps") && File.ReadLines("/proc/self/maps").Any(l => l.Contains("libonnxruntime", StringComparison.Ordinal));
Console.WriteLine($"libtorch loaded: {(libtorch ? "yes" : "no")}; ONNX Runtime loaded: {(onnxRuntime ? "yes" : "no")}");
return libtorch ? 2 : 0;

static DataKind KindOf(DataViewType type) => type switch
{
    TextDataViewType => DataKind.String,
    BooleanDataViewType => DataKind.Boolean,
    NumberDataViewType n when n.RawType == typeof(double) => DataKind.Double,
    NumberDataViewType n when n.RawType == typeof(float) => DataKind.Single,
    _ => throw new NotSupportedException($"The sample reads text, Boolean and numeric CSV columns; the model expects {type}."),
};

static string Show(object value) => value switch
{
    float f => f.ToString("G6", CultureInfo.InvariantCulture),
    VBuffer<float> v => "[" + string.Join(", ", v.DenseValues().Select(x => x.ToString("G4", CultureInfo.InvariantCulture))) + "]",
    _ => value.ToString() ?? "",
};
