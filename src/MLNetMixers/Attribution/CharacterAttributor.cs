using MLNetMixers.Encoding;
using MLNetMixers.Models;
using TorchSharp;
using static MLNetMixers.Models.SafeArithmetic;
using static TorchSharp.torch;

namespace MLNetMixers.Attribution;

/// <summary>Attributions of a batch of rows (row-major arrays).</summary>
internal sealed class AttributionBatch
{
    public required int Rows { get; init; }

    /// <summary>[rows x T] per-character attributions.</summary>
    public required float[] Characters { get; init; }

    /// <summary>[rows] the explained class (0 for regression).</summary>
    public required int[] Classes { get; init; }

    /// <summary>[rows] the predicted class (0 for regression).</summary>
    public required int[] PredictedClasses { get; init; }

    /// <summary>[rows] the prediction: binary P(true), multiclass P(predicted class), regression the value.</summary>
    public required float[] Predictions { get; init; }

    /// <summary>[rows] the attributed target f(row).</summary>
    public required float[] TargetValues { get; init; }

    /// <summary>[rows] f(baseline), integrated gradients only.</summary>
    public float[]? BaselineValues { get; init; }

    /// <summary>[rows] f(row) - f(baseline) - sum of attributions, integrated gradients only.</summary>
    public float[]? CompletenessGaps { get; init; }
}

/// <summary>
/// Per-character attributions of a <see cref="ExplainedModel"/> for batches of encoded rows. Stateless between calls
/// apart from the fixed settings, so one instance can serve several cursors as long as calls do not overlap on a GPU
/// stream the caller cares about; torch itself is thread-safe for inference and autograd.grad.
/// </summary>
internal sealed class CharacterAttributor
{
    private readonly ExplainedModel model;
    private readonly MixerExplainOptions options;
    private readonly int length;
    private readonly int[] fieldOf;
    private readonly (int Start, int Width)[] windows;

    public CharacterAttributor(ExplainedModel model, MixerExplainOptions options)
    {
        options.Validate();
        this.model = model;
        this.options = options;
        length = model.SequenceLength;
        fieldOf = new int[length];
        Array.Fill(fieldOf, -1);
        for (int f = 0; f < model.Fields.Count; f++)
        {
            for (int i = 0; i < model.Fields[f].Width; i++)
                fieldOf[model.Fields[f].Start + i] = f;
        }
        // Windows stay inside one field: occluding half of one value and half of the next mixes two causes.
        windows = model.Fields
            .SelectMany(f => Enumerable.Range(0, Math.Max(1, f.Width - options.OcclusionWindow + 1))
                .Select(s => (f.Start + s, Math.Min(options.OcclusionWindow, f.Width))))
            .ToArray();
        if (options.TargetClass is int c && model.Task != ExplainedTask.Regression && c >= model.ClassCount)
            throw new ArgumentOutOfRangeException(nameof(options), c, $"TargetClass {c} does not exist: the model has {model.ClassCount} classes (0..{model.ClassCount - 1}).");
    }

    public MixerExplainOptions Options => options;

    /// <summary>Attributes <paramref name="rows"/> encoded rows (token ids, row-major, T per row).</summary>
    public AttributionBatch Explain(ReadOnlySpan<int> tokenIds, int rows)
    {
        if (tokenIds.Length != rows * length)
            throw new ArgumentException($"Expected {rows} x {length} token ids, got {tokenIds.Length}.", nameof(tokenIds));
        var ids = new long[tokenIds.Length];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = tokenIds[i];

        var (classes, values, predicted, predictions) = PredictTargets(ids, rows);
        float[] characters;
        float[]? baselineValues = null, gaps = null;
        switch (options.Method)
        {
            case AttributionMethod.GradientTimesInput:
                characters = GradientTimesInput(ids, classes, rows);
                break;
            case AttributionMethod.IntegratedGradients:
                (characters, baselineValues) = IntegratedGradients(ids, classes, rows, options.Steps);
                gaps = Gaps(characters, values, baselineValues, rows);
                RefineIncompleteRows(ids, classes, values, characters, baselineValues, gaps, rows);
                break;
            case AttributionMethod.Occlusion:
                characters = WindowOcclusion(ids, classes, values, rows);
                break;
            case AttributionMethod.FieldOcclusion:
                characters = FieldOcclusion(ids, classes, values, rows);
                break;
            case AttributionMethod.Combined:
                characters = Combined(ids, classes, values, rows);
                break;
            default:
                throw new InvalidOperationException($"Unknown method {options.Method}.");
        }
        return new AttributionBatch
        {
            Rows = rows,
            Characters = characters,
            Classes = classes.Select(c => (int)c).ToArray(),
            PredictedClasses = predicted,
            Predictions = predictions,
            TargetValues = values,
            BaselineValues = baselineValues,
            CompletenessGaps = gaps,
        };
    }

    private float[] Gaps(float[] characters, float[] values, float[] baselineValues, int rows)
    {
        var gaps = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int p = 0; p < length; p++)
                sum += characters[r * length + p];
            gaps[r] = (float)(values[r] - baselineValues[r] - sum);
        }
        return gaps;
    }

    /// <summary>
    /// Rows whose completeness gap exceeds 1% of |f(row) - f(baseline)| (a path with a sharp turn) are recomputed once
    /// with four times the steps; the better of the two results is kept.
    /// </summary>
    private void RefineIncompleteRows(long[] ids, long[] classes, float[] values, float[] characters, float[] baselineValues, float[] gaps, int rows)
    {
        var bad = Enumerable.Range(0, rows)
            .Where(r => Math.Abs(gaps[r]) > CompletenessTolerance * Math.Abs(values[r] - baselineValues[r]) && Math.Abs(values[r] - baselineValues[r]) > 1e-4)
            .ToArray();
        if (bad.Length == 0)
            return;
        var subIds = bad.SelectMany(r => ids.AsSpan(r * length, length).ToArray()).ToArray();
        var subClasses = bad.Select(r => classes[r]).ToArray();
        var subValues = bad.Select(r => values[r]).ToArray();
        var (refined, refinedBaseline) = IntegratedGradients(subIds, subClasses, bad.Length, options.Steps * 4);
        var refinedGaps = Gaps(refined, subValues, refinedBaseline, bad.Length);
        for (int i = 0; i < bad.Length; i++)
        {
            int r = bad[i];
            if (Math.Abs(refinedGaps[i]) >= Math.Abs(gaps[r]))
                continue;
            refined.AsSpan(i * length, length).CopyTo(characters.AsSpan(r * length, length));
            gaps[r] = refinedGaps[i];
        }
    }

    /// <summary>Relative completeness gap above which integrated gradients refines a row.</summary>
    internal const double CompletenessTolerance = 0.01;

    private (long[] Classes, float[] Values, int[] Predicted, float[] Predictions) PredictTargets(long[] ids, int rows)
    {
        var classes = new long[rows];
        var values = new float[rows];
        var predicted = new int[rows];
        var predictions = new float[rows];
        int chunk = Math.Max(1, options.BatchSize);
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int n = Math.Min(chunk, rows - r0);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var outputs = model.Network.forward(Tokens(ids, r0, n));
            var best = model.PredictedClass(outputs);
            var c = options.TargetClass is int target && model.Task != ExplainedTask.Regression
                ? full(n, target, ScalarType.Int64, model.Device)
                : best;
            var f = model.Target(outputs, c);
            c.cpu().data<long>().CopyTo(classes, r0);
            f.to(ScalarType.Float32).cpu().data<float>().CopyTo(values, r0);
            var bestTarget = model.Target(outputs, best);
            // Binary: P(true); multiclass: P(predicted class); regression: the value.
            var shown = model.Task switch
            {
                ExplainedTask.Binary => outputs[.., 0].sigmoid(),
                ExplainedTask.Multiclass => bestTarget.sigmoid(),
                _ => bestTarget,
            };
            shown.to(ScalarType.Float32).cpu().data<float>().CopyTo(predictions, r0);
            foreach (var (v, i) in best.cpu().data<long>().ToArray().Select((v, i) => (v, i)))
                predicted[r0 + i] = (int)v;
        }
        return (classes, values, predicted, predictions);
    }

    private Tensor Tokens(long[] ids, int firstRow, int rows)
        => tensor(ids.AsSpan(firstRow * length, rows * length).ToArray(), [rows, length], ScalarType.Int64).to(model.Device);

    private Tensor Classes(long[] classes, int firstRow, int rows)
        => tensor(classes.AsSpan(firstRow, rows).ToArray(), ScalarType.Int64).to(model.Device);

    /// <summary>
    /// a_p = sum_d g_pd * (e_pd - b_pd) with g = d f / d e at the row's embeddings e and b the baseline's embeddings:
    /// the first-order term of the integrated-gradients path. Embeddings are not centred, so the plain g . e (the
    /// <see cref="AttributionBaseline.Zero"/> baseline) mostly measures each token's embedding norm.
    /// </summary>
    private float[] GradientTimesInput(long[] ids, long[] classes, int rows)
    {
        var result = new float[rows * length];
        int chunk = Math.Max(1, options.BatchSize);
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int n = Math.Min(chunk, rows - r0);
            using var scope = NewDisposeScope();
            using var grad = enable_grad();
            var embedded = model.Network.Embed(Tokens(ids, r0, n)).detach().requires_grad_(true);
            var f = model.Target(model.Network.ForwardFromEmbeddings(embedded), Classes(classes, r0, n));
            // autograd.grad leaves the parameters' .grad alone: explaining never disturbs a model being trained or shared.
            var g = torch.autograd.grad([f.sum()], [embedded])[0];
            Tensor baseline;
            using (no_grad())
                baseline = Baseline(ids, r0, n, embedded);
            CopyRows((g * (embedded.detach() - baseline)).sum(-1), result, r0);
        }
        CpuKernels.ReleaseAutogradNodes();
        return result;
    }

    /// <summary>
    /// a_p = sum_d (e_pd - b_pd) * integral_0^1 g_pd(b + t (e - b)) dt, the integral by Gauss-Legendre over the steps,
    /// rows and steps batched into one pass.
    /// </summary>
    private (float[] Characters, float[] BaselineValues) IntegratedGradients(long[] ids, long[] classes, int rows, int steps)
    {
        var (nodes, weights) = GaussLegendre.OnUnitInterval(steps);
        var result = new float[rows * length];
        var baselineValues = new float[rows];
        int stepsPerPass = Math.Min(steps, options.BatchSize);
        int rowsPerPass = Math.Max(1, options.BatchSize / steps);
        for (int r0 = 0; r0 < rows; r0 += rowsPerPass)
        {
            int n = Math.Min(rowsPerPass, rows - r0);
            using var scope = NewDisposeScope();
            var c = Classes(classes, r0, n);
            Tensor x, b;
            using (no_grad())
            {
                x = model.Network.Embed(Tokens(ids, r0, n));
                b = Baseline(ids, r0, n, x);
                baselineValues.AsSpan(r0, n).Clear();
                model.Target(model.Network.ForwardFromEmbeddings(b), c).to(ScalarType.Float32).cpu().data<float>().CopyTo(baselineValues, r0);
            }
            var delta = x - b;
            var integral = zeros_like(x);
            for (int s0 = 0; s0 < steps; s0 += stepsPerPass)
            {
                int m = Math.Min(stepsPerPass, steps - s0);
                using var stepScope = NewDisposeScope();
                var t = tensor(nodes.AsSpan(s0, m).ToArray(), ScalarType.Float32).to(model.Device).view(1, m, 1, 1);
                var w = tensor(weights.AsSpan(s0, m).ToArray(), ScalarType.Float32).to(model.Device).view(1, m, 1, 1);
                using var grad = enable_grad();
                // [n, m, T, d] points on the path, flattened to one batch of n * m sequences.
                var path = Add(b.unsqueeze(1), t * delta.unsqueeze(1)).reshape(n * m, length, -1).detach().requires_grad_(true);
                var f = model.Target(model.Network.ForwardFromEmbeddings(path), c.repeat_interleave(m));
                var g = torch.autograd.grad([f.sum()], [path])[0].view(n, m, length, -1);
                AddInPlace(integral, (g * w).sum(1));
            }
            CopyRows((integral * delta).sum(-1), result, r0);
        }
        CpuKernels.ReleaseAutogradNodes();
        return (result, baselineValues);
    }

    private Tensor Baseline(long[] ids, int firstRow, int rows, Tensor embedded)
    {
        if (options.Baseline == AttributionBaseline.Zero)
            return zeros_like(embedded);
        long token = options.Baseline == AttributionBaseline.Padding ? ReservedTokens.Padding : ReservedTokens.Missing;
        var baseline = ids.AsSpan(firstRow * length, rows * length).ToArray();
        for (int i = 0; i < baseline.Length; i++)
        {
            if (fieldOf[i % length] >= 0)
                baseline[i] = token;
        }
        return model.Network.Embed(tensor(baseline, [rows, length], ScalarType.Int64).to(model.Device));
    }

    /// <summary>Each window of characters inside a field replaced by the missing token; a character gets the mean drop of the windows covering it.</summary>
    private float[] WindowOcclusion(long[] ids, long[] classes, float[] values, int rows)
    {
        var drops = OcclusionDrops(ids, classes, values, rows, windows);
        var result = new float[rows * length];
        var cover = new int[length];
        foreach (var (start, width) in windows)
        {
            for (int p = start; p < start + width; p++)
                cover[p]++;
        }
        for (int r = 0; r < rows; r++)
        {
            for (int m = 0; m < windows.Length; m++)
            {
                var (start, width) = windows[m];
                for (int p = start; p < start + width; p++)
                    result[r * length + p] += drops[r * windows.Length + m] / cover[p];
            }
        }
        return result;
    }

    /// <summary>Each whole field replaced by the missing token; the drop is spread evenly over the field's characters.</summary>
    private float[] FieldOcclusion(long[] ids, long[] classes, float[] values, int rows)
    {
        var spans = model.Fields.Select(f => (f.Start, f.Width)).ToArray();
        var drops = OcclusionDrops(ids, classes, values, rows, spans);
        var result = new float[rows * length];
        for (int r = 0; r < rows; r++)
        {
            for (int f = 0; f < spans.Length; f++)
            {
                var (start, width) = spans[f];
                for (int p = start; p < start + width; p++)
                    result[r * length + p] = drops[r * spans.Length + f] / width;
            }
        }
        return result;
    }

    /// <summary>The seeds' score with their scale fault fixed: mean of the row-max-normalised |occlusion| and |gradient x input|.</summary>
    private float[] Combined(long[] ids, long[] classes, float[] values, int rows)
    {
        var occlusion = WindowOcclusion(ids, classes, values, rows);
        var gradient = GradientTimesInput(ids, classes, rows);
        var result = new float[rows * length];
        for (int r = 0; r < rows; r++)
        {
            var o = occlusion.AsSpan(r * length, length);
            var g = gradient.AsSpan(r * length, length);
            float oMax = MaxAbs(o), gMax = MaxAbs(g);
            for (int p = 0; p < length; p++)
            {
                float a = oMax > 0 ? Math.Abs(o[p]) / oMax : 0;
                float b = gMax > 0 ? Math.Abs(g[p]) / gMax : 0;
                result[r * length + p] = fieldOf[p] >= 0 ? (a + b) / 2 : 0;
            }
        }
        return result;
    }

    /// <summary>f(row) - f(row with span m replaced by the missing token), [rows x spans], batched over rows x spans.</summary>
    private float[] OcclusionDrops(long[] ids, long[] classes, float[] values, int rows, (int Start, int Width)[] spans)
    {
        int variants = rows * spans.Length;
        var drops = new float[variants];
        int chunk = Math.Max(1, options.BatchSize);
        var batch = new long[Math.Min(chunk, variants) * length];
        var batchClasses = new long[Math.Min(chunk, variants)];
        for (int v0 = 0; v0 < variants; v0 += chunk)
        {
            int n = Math.Min(chunk, variants - v0);
            for (int i = 0; i < n; i++)
            {
                int r = (v0 + i) / spans.Length, m = (v0 + i) % spans.Length;
                var row = batch.AsSpan(i * length, length);
                ids.AsSpan(r * length, length).CopyTo(row);
                row.Slice(spans[m].Start, spans[m].Width).Fill(ReservedTokens.Missing);
                batchClasses[i] = classes[r];
            }
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var tokens = tensor(batch.AsSpan(0, n * length).ToArray(), [n, length], ScalarType.Int64).to(model.Device);
            var c = tensor(batchClasses.AsSpan(0, n).ToArray(), ScalarType.Int64).to(model.Device);
            var occluded = model.Target(model.Network.forward(tokens), c).to(ScalarType.Float32).cpu().data<float>().ToArray();
            for (int i = 0; i < n; i++)
                drops[v0 + i] = values[(v0 + i) / spans.Length] - occluded[i];
        }
        return drops;
    }

    private void CopyRows(Tensor perPosition, float[] destination, int firstRow)
        => perPosition.to(ScalarType.Float32).cpu().data<float>().CopyTo(destination, firstRow * length);

    internal static float MaxAbs(ReadOnlySpan<float> values)
    {
        float max = 0;
        foreach (float v in values)
            max = Math.Max(max, Math.Abs(v));
        return max;
    }
}
