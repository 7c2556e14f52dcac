// Binary classification with a mixer: is a Pima patient diabetic? Encodes each row as characters, trains,
// evaluates on held-out rows, saves the model zip, reloads it and predicts one patient.
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers;

var ml = new MLContext(seed: 1);
string[] features = ["preg", "plas", "pres", "skin", "insu", "mass", "pedi", "age"];
var columns = features.Select((name, i) => new TextLoader.Column(name, DataKind.Single, i))
    .Append(new TextLoader.Column("class", DataKind.String, 8)).ToArray();
var data = ml.Data.LoadFromTextFile(Path.Combine(AppContext.BaseDirectory, "data", "weka_diabetes.csv"), columns, separatorChar: ',', hasHeader: true);
var split = ml.Data.TrainTestSplit(data, testFraction: 0.25, seed: 1);

var pipeline = ml.Transforms.Conversion.MapValue("Label", new Dictionary<string, bool> { ["tested_positive"] = true, ["tested_negative"] = false }, "class")
    .Append(ml.Transforms.EncodeAsCharacters("Features", features))
    .Append(ml.BinaryClassification.Trainers.Mixer(new MixerBinaryTrainer.Options
    {
        // Reports after every epoch and every two seconds: epoch, step, loss, rows/s, time left.
        Progress = new Progress<TrainingProgress>(Console.WriteLine),
    }));
var model = pipeline.Fit(split.TrainSet);

var metrics = ml.BinaryClassification.Evaluate(model.Transform(split.TestSet));
Console.WriteLine($"Held-out AUC {metrics.AreaUnderRocCurve:F3}, accuracy {metrics.Accuracy:F3}, F1 {metrics.F1Score:F3}");

string path = Path.Combine(Path.GetTempPath(), "diabetes-mixer.zip");
ml.Model.Save(model, data.Schema, path);
var loaded = new MLContext().Model.Load(path, out _);
var engine = ml.Model.CreatePredictionEngine<Patient, Diagnosis>(loaded);
var patient = new Patient { preg = 6, plas = 148, pres = 72, skin = 35, insu = 0, mass = 33.6f, pedi = 0.627f, age = 50, @class = "" };
var diagnosis = engine.Predict(patient);
Console.WriteLine($"Saved to {path}; reloaded model says diabetic = {diagnosis.PredictedLabel} (probability {diagnosis.Probability:F2})");

internal sealed class Patient
{
    public float preg { get; set; }
    public float plas { get; set; }
    public float pres { get; set; }
    public float skin { get; set; }
    public float insu { get; set; }
    public float mass { get; set; }
    public float pedi { get; set; }
    public float age { get; set; }
    public string @class { get; set; } = "";
}

internal sealed class Diagnosis
{
    public bool PredictedLabel { get; set; }
    public float Probability { get; set; }
}
