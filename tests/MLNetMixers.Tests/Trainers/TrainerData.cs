using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetMixers.Tests.Trainers;

/// <summary>The shared datasets the trainer tests use, loaded with TextLoader, with their label prepared per task.</summary>
internal static class TrainerData
{
    public static readonly string[] DiabetesFeatures = ["preg", "plas", "pres", "skin", "insu", "mass", "pedi", "age"];
    public static readonly string[] PenguinFeatures = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"];
    public static readonly string[] ConcreteFeatures = ["cement", "blast_furnace_slag", "fly_ash", "water", "superplasticizer", "coarse_aggregate", "fine_aggregate", "age"];

    /// <summary>Pima diabetes (768 rows): eight numbers and "class" (tested_positive / tested_negative) as a Boolean Label.</summary>
    public static IDataView Diabetes(MLContext ml)
    {
        var columns = DiabetesFeatures.Select((name, i) => new TextLoader.Column(name, DataKind.Single, i))
            .Append(new TextLoader.Column("class", DataKind.String, 8)).ToArray();
        var raw = ml.Data.LoadFromTextFile(TestData.Tabular("weka_diabetes.csv"), columns, separatorChar: ',', hasHeader: true);
        var toBool = ml.Transforms.Conversion.MapValue("Label",
            new Dictionary<string, bool> { ["tested_positive"] = true, ["tested_negative"] = false }, "class");
        return toBool.Fit(raw).Transform(raw);
    }

    /// <summary>Palmer penguins (344 rows, two without measurements dropped by nothing: kept as missing): species as text.</summary>
    public static IDataView Penguins(MLContext ml)
    {
        TextLoader.Column[] columns =
        [
            new("species", DataKind.String, 0), new("island", DataKind.String, 1),
            new("bill_length_mm", DataKind.Single, 2), new("bill_depth_mm", DataKind.Single, 3),
            new("flipper_length_mm", DataKind.Single, 4), new("body_mass_g", DataKind.Single, 5), new("sex", DataKind.String, 6),
        ];
        return ml.Data.LoadFromTextFile(TestData.Tabular("penguins.csv"), columns, separatorChar: ',', hasHeader: true, allowQuoting: true);
    }

    /// <summary>Concrete compressive strength (1030 rows): eight numbers and the strength as a Single Label.</summary>
    public static IDataView Concrete(MLContext ml)
    {
        var columns = ConcreteFeatures.Select((name, i) => new TextLoader.Column(name, DataKind.Single, i))
            .Append(new TextLoader.Column("Label", DataKind.Single, 8)).ToArray();
        return ml.Data.LoadFromTextFile(TestData.Tabular("concrete.csv"), columns, separatorChar: ',', hasHeader: true, allowQuoting: true);
    }
}
