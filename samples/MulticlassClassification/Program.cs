// Multiclass classification with a mixer: which species is this penguin? The label becomes a key (as for every
// ML.NET multiclass trainer), rows become characters; the predicted key maps back to the species name.
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers;

var ml = new MLContext(seed: 1);
TextLoader.Column[] columns =
[
    new("species", DataKind.String, 0), new("island", DataKind.String, 1),
    new("bill_length_mm", DataKind.Single, 2), new("bill_depth_mm", DataKind.Single, 3),
    new("flipper_length_mm", DataKind.Single, 4), new("body_mass_g", DataKind.Single, 5), new("sex", DataKind.String, 6),
];
var data = ml.Data.LoadFromTextFile(Path.Combine(AppContext.BaseDirectory, "data", "penguins.csv"), columns, separatorChar: ',', hasHeader: true, allowQuoting: true);
var split = ml.Data.TrainTestSplit(data, testFraction: 0.25, seed: 1);

var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "species")
    .Append(ml.Transforms.EncodeAsCharacters("Features", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"))
    .Append(ml.MulticlassClassification.Trainers.Mixer())
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedSpecies", "PredictedLabel"));
var model = pipeline.Fit(split.TrainSet);

var metrics = ml.MulticlassClassification.Evaluate(model.Transform(split.TestSet));
Console.WriteLine($"Held-out accuracy {metrics.MicroAccuracy:F3}, log-loss {metrics.LogLoss:F3}");

string path = Path.Combine(Path.GetTempPath(), "penguins-mixer.zip");
ml.Model.Save(model, data.Schema, path);
var loaded = new MLContext().Model.Load(path, out _);
var engine = ml.Model.CreatePredictionEngine<Penguin, SpeciesPrediction>(loaded);
var penguin = new Penguin { island = "Biscoe", bill_length_mm = 47.5f, bill_depth_mm = 15f, flipper_length_mm = 218, body_mass_g = 4950, sex = "male" };
var prediction = engine.Predict(penguin);
Console.WriteLine($"Saved to {path}; reloaded model says {prediction.PredictedSpecies} (probability {prediction.Score.Max():F2})");

internal sealed class Penguin
{
    public string species { get; set; } = "";
    public string island { get; set; } = "";
    public float bill_length_mm { get; set; }
    public float bill_depth_mm { get; set; }
    public float flipper_length_mm { get; set; }
    public float body_mass_g { get; set; }
    public string sex { get; set; } = "";
}

internal sealed class SpeciesPrediction
{
    public string PredictedSpecies { get; set; } = "";
    public float[] Score { get; set; } = [];
}
