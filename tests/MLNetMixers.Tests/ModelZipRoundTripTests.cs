using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Persistence;
using MLNetMixers.Tests;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(LinearTorchTransformer), null, typeof(SignatureLoadModel), "Linear torch test transformer", LinearTorchTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(LinearTorchTransformer), null, typeof(SignatureLoadRowMapper), "Linear torch test transformer", LinearTorchTransformer.LoaderSignature)]

namespace MLNetMixers.Tests;

public class ModelZipRoundTripTests
{
    private sealed class Row
    {
        [VectorType(3)]
        public float[] X { get; set; } = [];
    }

    [Fact]
    public void TransformerHoldingTorchWeightsRoundTripsThroughModelZip()
    {
        var ml = new MLContext(seed: 7);
        var rows = Enumerable.Range(0, 20).Select(i => new Row { X = [i, i * 0.5f, -i] }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);

        torch.manual_seed(42);
        using var transformer = new LinearTorchTransformer(ml, "X", "Y", inputs: 3, outputs: 2, scale: 1.5f, label: "test");
        float[][] before = ml.Data.CreateEnumerable<Output>(transformer.Transform(data), reuseRowObject: false).Select(o => o.Y).ToArray();

        string path = Path.Combine(Path.GetTempPath(), $"mlnetmixers-roundtrip-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(transformer, data.Schema, path);

            var fresh = new MLContext(seed: 99);
            ITransformer loaded = fresh.Model.Load(path, out var inputSchema);
            Assert.IsType<LinearTorchTransformer>(loaded);
            Assert.Equal(3, inputSchema["X"].Type.GetValueCount());

            float[][] after = fresh.Data.CreateEnumerable<Output>(loaded.Transform(fresh.Data.LoadFromEnumerable(rows)), reuseRowObject: false).Select(o => o.Y).ToArray();
            Assert.Equal(before.Length, after.Length);
            for (int i = 0; i < before.Length; i++)
                Assert.Equal(before[i], after[i]);
            Assert.Contains(before, y => y.Any(v => v != 0f));

            var engine = fresh.Model.CreatePredictionEngine<Row, Output>(loaded);
            Assert.Equal(before[5], engine.Predict(rows[5]).Y);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class Output
    {
        public float[] Y { get; set; } = [];
    }
}

/// <summary>A minimal transformer whose state is TorchSharp weights plus scalars and strings: y = scale · (W x + b).</summary>
internal sealed class LinearTorchTransformer : RowToRowTransformerBase, IDisposable
{
    internal const string LoaderSignature = "MLNetMixersLinearTest";
    private readonly string inputColumn;
    private readonly string outputColumn;
    private readonly float scale;
    private readonly string label;
    private readonly torch.nn.Module<Tensor, Tensor> linear;
    private readonly int inputs;
    private readonly int outputs;

    public LinearTorchTransformer(IHostEnvironment env, string inputColumn, string outputColumn, int inputs, int outputs, float scale, string label)
        : base(env.Register(nameof(LinearTorchTransformer)))
    {
        this.inputColumn = inputColumn;
        this.outputColumn = outputColumn;
        this.inputs = inputs;
        this.outputs = outputs;
        this.scale = scale;
        this.label = label;
        linear = torch.nn.Linear(inputs, outputs);
        linear.eval();
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MMLINTST",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(LinearTorchTransformer).Assembly.FullName);

    public override void SaveModel(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(inputColumn);
        ctx.SaveNonEmptyString(outputColumn);
        ctx.SaveNonEmptyString(label);
        ctx.Writer.Write(inputs);
        ctx.Writer.Write(outputs);
        ctx.Writer.Write(scale);
        ctx.SaveModule("Weights", linear);
    }

    private static LinearTorchTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        string input = ctx.LoadNonEmptyString();
        string output = ctx.LoadNonEmptyString();
        string label = ctx.LoadNonEmptyString();
        int inputs = ctx.Reader.ReadInt32();
        int outputs = ctx.Reader.ReadInt32();
        float scale = ctx.Reader.ReadSingle();
        var transformer = new LinearTorchTransformer(env, input, output, inputs, outputs, scale, label);
        ctx.LoadModule("Weights", transformer.linear);
        return transformer;
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    public override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema);

    public void Dispose() => linear.Dispose();

    private sealed class Mapper : MapperBase
    {
        private readonly LinearTorchTransformer parent;
        private readonly int inputIndex;

        public Mapper(LinearTorchTransformer parent, DataViewSchema schema) : base(parent.Host, schema, parent)
        {
            this.parent = parent;
            if (!schema.TryGetColumnIndex(parent.inputColumn, out inputIndex))
                throw new ArgumentOutOfRangeException(nameof(schema), $"Input column '{parent.inputColumn}' not found.");
        }

        public override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
            => [new DataViewSchema.DetachedColumn(parent.outputColumn, new VectorDataViewType(NumberDataViewType.Single, parent.outputs))];

        public override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput)
            => col => col == inputIndex && activeOutput(0);

        public override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            disposer = null!;
            var getX = input.GetGetter<VBuffer<float>>(input.Schema[inputIndex]);
            VBuffer<float> x = default;
            ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> dst) =>
            {
                getX(ref x);
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                var y = parent.linear.forward(torch.tensor(x.DenseValues().ToArray())) * parent.scale;
                var editor = VBufferEditor.Create(ref dst, parent.outputs);
                y.data<float>().CopyTo(editor.Values);
                dst = editor.Commit();
            };
            return getter;
        }

        public override void SaveModel(ModelSaveContext ctx) => parent.SaveModel(ctx);
    }
}
