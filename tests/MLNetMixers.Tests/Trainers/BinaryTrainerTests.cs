using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Trainers;

public class BinaryTrainerTests(DiabetesModelFixture fixture) : IClassFixture<DiabetesModelFixture>
{
    private sealed class Row
    {
        public float preg { get; set; }
        public float plas { get; set; }
        public float pres { get; set; }
        public float skin { get; set; }
        public float insu { get; set; }
        public float mass { get; set; }
        public float pedi { get; set; }
        public float age { get; set; }
    }

    private sealed class Prediction
    {
        public float Score { get; set; }
        public float Probability { get; set; }
        public bool PredictedLabel { get; set; }
    }

    [Fact]
    public void HeldOutAucIsFarAboveChance()
    {
        var metrics = fixture.Ml.BinaryClassification.Evaluate(fixture.Model.Transform(fixture.Split.TestSet));
        // Chance is 0.5; LightGBM reaches about 0.83 on this split.
        Assert.True(metrics.AreaUnderRocCurve > 0.75, $"AUC {metrics.AreaUnderRocCurve:F3}");
        Assert.True(metrics.Accuracy > 0.68, $"accuracy {metrics.Accuracy:F3}");
    }

    [Fact]
    public void ScoreColumnsCarryScorerAnnotations()
    {
        var schema = fixture.Model.Transform(fixture.Split.TestSet).Schema;
        ReadOnlyMemory<char> kind = default;
        schema["Score"].Annotations.GetValue(AnnotationUtils.Kinds.ScoreColumnKind, ref kind);
        Assert.Equal(AnnotationUtils.Const.ScoreColumnKind.BinaryClassification, kind.ToString());
        ReadOnlyMemory<char> valueKind = default;
        schema["Probability"].Annotations.GetValue(AnnotationUtils.Kinds.ScoreValueKind, ref valueKind);
        Assert.Equal(AnnotationUtils.Const.ScoreValueKind.Probability, valueKind.ToString());
        Assert.Equal(BooleanDataViewType.Instance, schema["PredictedLabel"].Type);
        Assert.Equal(schema, fixture.Model.GetOutputSchema(fixture.Split.TestSet.Schema), new SchemaNamesAndTypes());
    }

    [Fact]
    public void BatchScoresMatchPredictionEngineRowByRow()
    {
        // The training rows: more than one scoring batch (256 rows).
        var rows = fixture.Ml.Data.CreateEnumerable<Row>(fixture.Split.TrainSet, reuseRowObject: false).ToArray();
        var scored = fixture.Model.Transform(fixture.Ml.Data.LoadFromEnumerable(rows));
        var batch = fixture.Ml.Data.CreateEnumerable<Prediction>(scored, reuseRowObject: false).ToArray();
        var engine = fixture.Ml.Model.CreatePredictionEngine<Row, Prediction>(fixture.Model);
        Assert.Equal(rows.Length, batch.Length);
        Assert.True(batch.Length > 256, "the test set must span more than one scoring batch");
        for (int i = 0; i < rows.Length; i++)
        {
            var single = engine.Predict(rows[i]);
            Assert.Equal(batch[i].Score, (double)single.Score, 1e-5);
            Assert.Equal(batch[i].PredictedLabel, single.PredictedLabel);
            Assert.Equal(1 / (1 + Math.Exp(-batch[i].Score)), batch[i].Probability, 1e-5);
            Assert.Equal(batch[i].Score > 0, batch[i].PredictedLabel);
        }
        Assert.Contains(batch, p => p.PredictedLabel);
        Assert.Contains(batch, p => !p.PredictedLabel);
    }

    [Fact]
    public void ModelZipRoundTripPredictsBitIdentically()
    {
        var before = fixture.Ml.Data.CreateEnumerable<Prediction>(fixture.Model.Transform(fixture.Split.TestSet), false).ToArray();
        var loaded = ModelZip.RoundTrip(fixture.Ml, fixture.Model, fixture.Split.TrainSet.Schema, out var fresh);
        var after = fresh.Data.CreateEnumerable<Prediction>(loaded.Transform(fixture.Split.TestSet), false).ToArray();
        Assert.Equal(before.Select(p => p.Score), after.Select(p => p.Score));
        Assert.Equal(before.Select(p => p.Probability), after.Select(p => p.Probability));
        var mixer = Assert.IsType<MixerPredictionTransformer>(((TransformerChain<ITransformer>)loaded).LastTransformer);
        Assert.Equal(MixerTask.BinaryClassification, mixer.Task);
        Assert.Equal(2, mixer.ClassCount);
    }

    /// <summary>Compares schemas by column names and types (annotations' getters are not comparable).</summary>
    private sealed class SchemaNamesAndTypes : IEqualityComparer<DataViewSchema>
    {
        public bool Equals(DataViewSchema? x, DataViewSchema? y)
            => x!.Count == y!.Count && x.Zip(y).All(p => p.First.Name == p.Second.Name && p.First.Type.Equals(p.Second.Type));

        public int GetHashCode(DataViewSchema obj) => obj.Count;
    }
}
