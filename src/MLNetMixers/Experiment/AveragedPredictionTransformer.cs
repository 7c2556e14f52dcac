using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;

[assembly: LoadableClass(typeof(AveragedPredictionTransformer), null, typeof(SignatureLoadModel),
    "Averaged prediction", AveragedPredictionTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(AveragedPredictionTransformer), null, typeof(SignatureLoadRowMapper),
    "Averaged prediction", AveragedPredictionTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// The ensemble's last step: averages the members' predictions (with weights that sum to 1, equal unless given), read
/// from columns the earlier steps of the chain copied them into, and adds ML.NET's standard prediction columns from the
/// average. Binary: the members'
/// probabilities (Score is the average's logit); multiclass: their class-probability vectors (Score is the averaged
/// vector, PredictedLabel its most likely class); regression: their scores. The members themselves stay ordinary
/// steps of the chain, so the whole ensemble saves and loads as one ML.NET model zip.
/// </summary>
public sealed class AveragedPredictionTransformer : RowToRowTransformerBase
{
    internal const string LoaderSignature = "MixerAveragedPrediction";

    private readonly string[] memberColumns;
    private readonly double[] weights;
    private readonly DataViewSchema.Annotations? labelKeyValues;
    private readonly TaskPrediction prediction;

    internal AveragedPredictionTransformer(IHostEnvironment env, MixerTask task, IReadOnlyList<string> memberColumns, int classCount,
                                           DataViewSchema.Annotations? labelKeyValues, IReadOnlyList<double>? weights = null)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(AveragedPredictionTransformer)))
    {
        Host.Check(memberColumns.Count > 0, "An average needs at least one member.");
        weights ??= Enumerable.Repeat(1.0, memberColumns.Count).ToArray();
        Host.Check(weights.Count == memberColumns.Count && weights.All(w => w >= 0 && double.IsFinite(w)) && weights.Sum() > 0,
                   "An average needs one non-negative weight per member, not all zero.");
        double total = weights.Sum();
        this.weights = weights.Select(w => w / total).ToArray();
        Task = task;
        this.memberColumns = [.. memberColumns];
        ClassCount = classCount;
        this.labelKeyValues = labelKeyValues;
        // The slot names come from OutputColumns below; the getters need no names.
        prediction = TaskPrediction.For(task, task == MixerTask.MulticlassClassification ? classCount : 1, (0, 1), labelKeyValues, null);
    }

    /// <summary>What the members predict.</summary>
    public MixerTask Task { get; }

    /// <summary>2 (binary), K (multiclass) or 1 (regression).</summary>
    public int ClassCount { get; }

    /// <summary>The columns holding each member's prediction.</summary>
    public IReadOnlyList<string> MemberColumns => memberColumns;

    /// <summary>Each member's weight in the average, in the order of <see cref="MemberColumns"/>; they sum to 1.</summary>
    public IReadOnlyList<double> Weights => weights;

    private DataViewType MemberType => Task == MixerTask.MulticlassClassification
        ? new VectorDataViewType(NumberDataViewType.Single, ClassCount)
        : NumberDataViewType.Single;

    private int[] CheckMemberColumns(DataViewSchema schema)
    {
        var indices = new int[memberColumns.Length];
        for (int i = 0; i < memberColumns.Length; i++)
        {
            if (!schema.TryGetColumnIndex(memberColumns[i], out indices[i]))
                throw Host.ExceptSchemaMismatch(nameof(schema), "ensemble member", memberColumns[i]);
            if (!schema[indices[i]].Type.Equals(MemberType))
                throw Host.ExceptSchemaMismatch(nameof(schema), "ensemble member", memberColumns[i], MemberType.ToString(), schema[indices[i]].Type.ToString());
        }
        return indices;
    }

    /// <summary>
    /// The average as the raw outputs <see cref="TaskPrediction"/> turns into columns: a logit (binary), log
    /// probabilities (multiclass: their softmax is the average again) or the score itself (regression).
    /// </summary>
    internal static void RawOfAverage(MixerTask task, ReadOnlySpan<float> average, Span<float> raw)
    {
        const double floor = 1e-12;
        switch (task)
        {
            case MixerTask.BinaryClassification:
                double p = Math.Clamp(average[0], floor, 1 - 1e-7);
                raw[0] = (float)Math.Log(p / (1 - p));
                break;
            case MixerTask.MulticlassClassification:
                for (int k = 0; k < average.Length; k++)
                    raw[k] = (float)Math.Log(Math.Max(average[k], floor));
                break;
            default:
                raw[0] = average[0];
                break;
        }
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXAVGPRD",
        verWrittenCur: 0x00010002, // member weights
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(AveragedPredictionTransformer).Assembly.FullName);

    /// <summary>Writes the task, the class count, the member columns, the label's key values and the members' weights.</summary>
    public override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var w = ctx.Writer;
        w.Write((int)Task);
        w.Write(ClassCount);
        w.Write(memberColumns.Length);
        foreach (string column in memberColumns)
            w.Write(column);
        w.Write(labelKeyValues is not null);
        if (labelKeyValues is not null)
            MixerPredictionTransformer.SaveKeyValues(Host, ctx, labelKeyValues);
        foreach (double weight in weights)
            w.Write(weight);
    }

    private static AveragedPredictionTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        return Persistence.ModelFormat.Read(ctx, GetVersionInfo(), "ensemble average", () =>
        {
            var r = ctx.Reader;
            var task = (MixerTask)r.ReadInt32();
            if (!Enum.IsDefined(task))
                throw new FormatException($"unknown task {(int)task}");
            int classes = r.ReadInt32();
            int members = r.ReadInt32();
            if (classes < 1 || members < 1 || members > 1000)
                throw new FormatException($"{classes} classes, {members} members");
            var columns = new string[members];
            for (int i = 0; i < members; i++)
                columns[i] = r.ReadString();
            var keyValues = r.ReadBoolean() ? MixerPredictionTransformer.LoadKeyValues(env, ctx) : null;
            // Format 1.1 averaged with equal weights.
            double[]? weights = ctx.Header.ModelVerWritten >= 0x00010002 ? Enumerable.Range(0, members).Select(_ => r.ReadDouble()).ToArray() : null;
            if (weights is not null && (weights.Any(w => !(w >= 0) || double.IsInfinity(w)) || !(weights.Sum() > 0)))
                throw new FormatException($"member weights {string.Join(", ", weights)}");
            return new AveragedPredictionTransformer(env, task, columns, classes, keyValues, weights);
        });
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    /// <summary>The row mapper (IDataView scoring and PredictionEngine).</summary>
    public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema);

    private sealed class Mapper : MapperBase
    {
        private readonly AveragedPredictionTransformer parent;
        private readonly int[] memberIndices;

        public Mapper(AveragedPredictionTransformer parent, DataViewSchema schema) : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            memberIndices = parent.CheckMemberColumns(schema);
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
            => MixerPredictionTransformer.OutputColumns(InputSchema, parent.Task, parent.ClassCount, parent.labelKeyValues);

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
        {
            bool any = Enumerable.Range(0, GetOutputColumnsCore().Length).Any(activeOutput);
            return col => any && memberIndices.Contains(col);
        }

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
            => throw new InvalidOperationException("Getters are made together by CreateGetters.");

        public override Delegate[] CreateGetters(DataViewRow input, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            // A cursor over other columns only (the label, say) did not fetch the members: ask for none of their getters.
            int outputs = GetOutputColumnsCore().Length;
            if (!Enumerable.Range(0, outputs).Any(activeOutput))
                return new Delegate[outputs];
            var task = parent.Task;
            int width = task == MixerTask.MulticlassClassification ? parent.ClassCount : 1;
            var sum = new double[width];
            var average = new float[width];
            var raw = new float[width];
            long cachedPosition = -1;
            Action<double[]>[] adders = memberIndices.Select((index, m) => task == MixerTask.MulticlassClassification
                ? VectorAdder(input.GetGetter<VBuffer<float>>(input.Schema[index]), width, parent.weights[m])
                : ScalarAdder(input.GetGetter<float>(input.Schema[index]), parent.weights[m])).ToArray();
            ReadOnlyMemory<float> RawOf()
            {
                if (cachedPosition != input.Position)
                {
                    Array.Clear(sum);
                    foreach (var add in adders)
                        add(sum);
                    for (int k = 0; k < width; k++)
                        average[k] = (float)sum[k];
                    RawOfAverage(task, average, raw);
                    cachedPosition = input.Position;
                }
                return raw;
            }
            return parent.prediction.Getters(activeOutput, RawOf);
        }

        private static Action<double[]> ScalarAdder(ValueGetter<float> getter, double weight)
        {
            float value = 0;
            return sum => { getter(ref value); sum[0] += weight * value; };
        }

        private static Action<double[]> VectorAdder(ValueGetter<VBuffer<float>> getter, int width, double weight)
        {
            VBuffer<float> value = default;
            return sum =>
            {
                getter(ref value);
                int k = 0;
                foreach (float v in value.DenseValues())
                {
                    if (k < width)
                        sum[k] += weight * v;
                    k++;
                }
            };
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
