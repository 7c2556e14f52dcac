namespace MLNetMixers.Experiment;

/// <summary>
/// The metric a trial is ranked by, over its out-of-fold predictions pooled across folds (so the ensemble's averaged
/// predictions are scored exactly as its members are): AUC, macro accuracy or R², higher is better.
/// </summary>
internal static class OutOfFoldMetric
{
    public static string Name(MixerTask task) => task switch
    {
        MixerTask.BinaryClassification => "AUC",
        MixerTask.MulticlassClassification => "MacroAccuracy",
        _ => "RSquared",
    };

    /// <param name="task">The task.</param>
    /// <param name="predictions">Per row: the positive-class probability, the class probabilities, or the score.</param>
    /// <param name="labels">Per row: 0/1, the 0-based class, or the target.</param>
    public static double Compute(MixerTask task, float[][] predictions, float[] labels) => task switch
    {
        MixerTask.BinaryClassification => Auc(predictions.Select(p => p[0]).ToArray(), labels),
        MixerTask.MulticlassClassification => MacroAccuracy(predictions, labels),
        _ => RSquared(predictions.Select(p => p[0]).ToArray(), labels),
    };

    /// <summary>
    /// Each fold's rows predicted by the average of the <paramref name="top"/> trials that score best on the other folds'
    /// rows. The choice of trials never saw the rows it predicts, so a family searched over hundreds of trials gets no
    /// credit for having been chosen on them (the best of many trials' out-of-fold score is optimistic).
    /// </summary>
    /// <param name="task">The task.</param>
    /// <param name="trials">Each trial's pooled out-of-fold predictions.</param>
    /// <param name="foldEnds">Where each fold's rows end in the pooled order (the last is the row count).</param>
    /// <param name="labels">Per row, in the pooled order.</param>
    /// <param name="top">How many trials each fold's prediction averages.</param>
    public static float[][] Nested(MixerTask task, IReadOnlyList<float[][]> trials, IReadOnlyList<int> foldEnds, float[] labels, int top)
    {
        var nested = new float[labels.Length][];
        int start = 0;
        foreach (int end in foldEnds)
        {
            int[] outside = [.. Enumerable.Range(0, start), .. Enumerable.Range(end, labels.Length - end)];
            var outsideLabels = outside.Select(r => labels[r]).ToArray();
            var chosen = trials.Select((p, i) => (Index: i, Metric: Compute(task, outside.Select(r => p[r]).ToArray(), outsideLabels)))
                               .OrderByDescending(t => double.IsNaN(t.Metric) ? double.NegativeInfinity : t.Metric).ThenBy(t => t.Index)
                               .Take(top).Select(t => trials[t.Index]).ToArray();
            var average = Average(Enumerable.Repeat(1.0 / chosen.Length, chosen.Length).ToArray(), chosen);
            for (int r = start; r < end; r++)
                nested[r] = average[r];
            start = end;
        }
        return nested;
    }

    /// <summary>The row-wise weighted average of several trials' predictions (weights summing to 1).</summary>
    public static float[][] Average(double[] weights, params float[][][] members)
    {
        int rows = members[0].Length;
        var average = new float[rows][];
        for (int r = 0; r < rows; r++)
        {
            int width = members[0][r].Length;
            average[r] = new float[width];
            for (int k = 0; k < width; k++)
            {
                double sum = 0;
                for (int m = 0; m < members.Length; m++)
                    sum += weights[m] * members[m][r][k];
                average[r][k] = (float)sum;
            }
        }
        return average;
    }

    /// <summary>Mann-Whitney AUC with tied scores sharing their average rank; NaN without both classes.</summary>
    internal static double Auc(float[] scores, float[] labels)
    {
        var order = Enumerable.Range(0, scores.Length).OrderBy(i => scores[i]).ToArray();
        double positiveRankSum = 0;
        long positives = 0;
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]])
                j++;
            double rank = (i + j) / 2.0 + 1;
            for (int t = i; t <= j; t++)
            {
                if (labels[order[t]] > 0.5f)
                {
                    positiveRankSum += rank;
                    positives++;
                }
            }
            i = j + 1;
        }
        long negatives = scores.Length - positives;
        return positives == 0 || negatives == 0 ? double.NaN
            : (positiveRankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    private static double MacroAccuracy(float[][] probabilities, float[] labels)
    {
        var correct = new Dictionary<int, (int Right, int All)>();
        for (int r = 0; r < labels.Length; r++)
        {
            int label = (int)labels[r];
            var p = probabilities[r];
            int best = 0;
            for (int k = 1; k < p.Length; k++)
                if (p[k] > p[best])
                    best = k;
            correct.TryGetValue(label, out var c);
            correct[label] = (c.Right + (best == label ? 1 : 0), c.All + 1);
        }
        return correct.Count == 0 ? double.NaN : correct.Values.Average(c => (double)c.Right / c.All);
    }

    private static double RSquared(float[] scores, float[] labels)
    {
        double mean = labels.Average(l => (double)l);
        double residual = 0, total = 0;
        for (int r = 0; r < labels.Length; r++)
        {
            residual += (labels[r] - (double)scores[r]) * (labels[r] - (double)scores[r]);
            total += (labels[r] - mean) * (labels[r] - mean);
        }
        return total == 0 ? double.NaN : 1 - residual / total;
    }
}
