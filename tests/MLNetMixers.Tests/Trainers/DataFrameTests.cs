using Microsoft.Data.Analysis;
using Microsoft.ML;
using MLNetMixers.Attribution;

namespace MLNetMixers.Tests.Trainers;

/// <summary>
/// DataFrame users need nothing from this library: a DataFrame is an IDataView, and Microsoft.Data.Analysis's
/// ToDataFrame brings any view (predictions, per-row attributions, the field-importance table) back as a DataFrame.
/// </summary>
public class DataFrameTests
{
    [Fact]
    public void TrainsOnADataFrameAndGivesPredictionsAndAttributionsBackAsDataFrames()
    {
        var ml = new MLContext(seed: 1);
        var frame = DataFrame.LoadCsv(TestData.Tabular("penguins.csv"));
        var model = ml.Transforms.Conversion.MapValueToKey("Label", "species")
            .Append(ml.Transforms.EncodeAsCharacters("Features", TrainerData.PenguinFeatures))
            .Append(ml.MulticlassClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerMulticlassTrainer.Options(), 10)))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedSpecies", "PredictedLabel"))
            .Fit(frame);

        var predictions = model.Transform(frame).ToDataFrame(-1, "species", "PredictedSpecies");
        Assert.Equal(frame.Rows.Count, predictions.Rows.Count);
        double accuracy = predictions.Rows.Count(r => Equals(r[0], r[1])) / (double)predictions.Rows.Count;
        Assert.True(accuracy > 0.85, $"training accuracy {accuracy:P1} read back from the DataFrame");

        var explainer = ml.Transforms.CreateMixerExplainer(model);
        var perRow = explainer.Transformer.Transform(frame.Head(20)).ToDataFrame(-1, "FieldAttributions");
        Assert.Equal(20, perRow.Rows.Count);

        var importance = ml.Data.LoadFromEnumerable(explainer.FieldImportance(frame, maxRows: 60)).ToDataFrame(-1);
        Assert.Equal(TrainerData.PenguinFeatures.Order(), importance["Field"].Cast<string>().Order());
        Assert.All(importance["Mean"].Cast<double>(), m => Assert.True(double.IsFinite(m)));
    }
}
