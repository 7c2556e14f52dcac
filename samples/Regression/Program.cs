// Regression with a mixer: how strong is this concrete mix (MPa)? The trainer standardises the label internally
// and reports Score in the label's units.
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers;

var ml = new MLContext(seed: 1);
string[] features = ["cement", "blast_furnace_slag", "fly_ash", "water", "superplasticizer", "coarse_aggregate", "fine_aggregate", "age"];
var columns = features.Select((name, i) => new TextLoader.Column(name, DataKind.Single, i))
    .Append(new TextLoader.Column("Label", DataKind.Single, 8)).ToArray();
var data = ml.Data.LoadFromTextFile(Path.Combine(AppContext.BaseDirectory, "data", "concrete.csv"), columns, separatorChar: ',', hasHeader: true, allowQuoting: true);
var split = ml.Data.TrainTestSplit(data, testFraction: 0.25, seed: 1);

var pipeline = ml.Transforms.EncodeAsCharacters("Features", features)
    .Append(ml.Regression.Trainers.Mixer());
var model = pipeline.Fit(split.TrainSet);

var metrics = ml.Regression.Evaluate(model.Transform(split.TestSet));
Console.WriteLine($"Held-out R^2 {metrics.RSquared:F3}, RMSE {metrics.RootMeanSquaredError:F2} MPa");

string path = Path.Combine(Path.GetTempPath(), "concrete-mixer.zip");
ml.Model.Save(model, data.Schema, path);
var loaded = new MLContext().Model.Load(path, out _);
var engine = ml.Model.CreatePredictionEngine<Mix, Strength>(loaded);
var mix = new Mix { cement = 540, blast_furnace_slag = 0, fly_ash = 0, water = 162, superplasticizer = 2.5f, coarse_aggregate = 1040, fine_aggregate = 676, age = 28 };
Console.WriteLine($"Saved to {path}; reloaded model predicts {engine.Predict(mix).Score:F1} MPa (measured: 79.99)");

internal sealed class Mix
{
    public float cement { get; set; }
    public float blast_furnace_slag { get; set; }
    public float fly_ash { get; set; }
    public float water { get; set; }
    public float superplasticizer { get; set; }
    public float coarse_aggregate { get; set; }
    public float fine_aggregate { get; set; }
    public float age { get; set; }
    public float Label { get; set; }
}

internal sealed class Strength
{
    public float Score { get; set; }
}
