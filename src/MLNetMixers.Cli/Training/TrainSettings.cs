namespace MLNetMixers.Cli.Training;

/// <summary>Everything the classification and regression commands were asked to do.</summary>
internal sealed class TrainSettings
{
    public required bool Regression { get; init; }
    public required string Dataset { get; init; }
    public required string LabelColumn { get; init; }
    public IReadOnlyList<string> IgnoreColumns { get; init; } = [];
    public string? ValidationDataset { get; init; }
    public double Split { get; init; } = 0.2;
    public int? Epochs { get; init; }
    public TimeSpan? TrainTime { get; init; }
    public MixerDevice Device { get; init; } = MixerDevice.Auto;
    public MixerPrecision Precision { get; init; } = MixerPrecision.Float32;
    public required string Output { get; init; }
    public int Seed { get; init; } = 1;
    public int? Threads { get; init; }
    public string? PositiveClass { get; init; }
    public bool Baseline { get; init; } = true;

    /// <summary>Spend the budget on the experiment (mixer and LightGBM trials, maybe their ensemble); false: one mixer, as --no-search.</summary>
    public bool Search { get; init; } = true;
    public bool Explain { get; init; } = true;
    public int ReportRows { get; init; } = ExplainStep.DefaultRows;
    public bool Verbose { get; init; }

    /// <summary>How numbers are written (--culture); null: inferred from the file.</summary>
    public Data.NumberReader? Numbers { get; init; }
}
