using MLNetMixers.Cli.Data;

namespace MLNetMixers.Cli.Training;

/// <summary>
/// The train/test split of the CSV's records: stratified by class for classification (every class keeps its share
/// in both parts), a seeded shuffle for regression. Rows without a label are left to <see cref="LabelSpec.Prepare"/>.
/// </summary>
internal static class Split
{
    /// <returns>Record indices of the training and the test rows, in file order.</returns>
    public static (List<int> Train, List<int> Test) Rows(CsvSchema schema, LabelSpec label, double testFraction, int seed)
    {
        int labelIndex = schema.Require(label.RawColumn, "Label").Index;
        var strata = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        for (int r = 0; r < schema.Records.Count; r++)
        {
            string value = schema.Records[r][labelIndex];
            if (CsvSniffer.IsMissing(value))
                continue;
            string stratum = label.Kind == LearningTask.Regression ? "" : value;
            if (!strata.TryGetValue(stratum, out var rows))
                strata[stratum] = rows = [];
            rows.Add(r);
        }

        var random = new Random(seed);
        var train = new List<int>();
        var test = new List<int>();
        foreach (var (stratum, rows) in strata)
        {
            if (rows.Count < 2)
            {
                throw new CliException(label.Kind == LearningTask.Regression
                    ? $"Only {rows.Count} row has a value in label column '{label.RawColumn}'; a train/test split needs at least 2."
                    : $"Class '{stratum}' of label column '{label.RawColumn}' has only 1 row; the train/test split needs at least 2 rows of every class " +
                      "(one to train on, one to test on). Add rows of that class, remove it, or give a --validation-dataset.");
            }
            int testCount = Math.Clamp((int)Math.Round(rows.Count * testFraction, MidpointRounding.AwayFromZero), 1, rows.Count - 1);
            var order = rows.ToArray();
            random.Shuffle(order);
            test.AddRange(order.Take(testCount));
            train.AddRange(order.Skip(testCount));
        }
        train.Sort();
        test.Sort();
        return (train, test);
    }
}
