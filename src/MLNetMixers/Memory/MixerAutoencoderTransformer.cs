using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;
using MLNetMixers.Memory;
using MLNetMixers.Persistence;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(MixerAutoencoderTransformer), null, typeof(SignatureLoadModel),
    "Mixer autoencoder", MixerAutoencoderTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(MixerAutoencoderTransformer), null, typeof(SignatureLoadRowMapper),
    "Mixer autoencoder", MixerAutoencoderTransformer.LoaderSignature)]

namespace MLNetMixers;

/// <summary>
/// A trained chunk autoencoder used as an embedding transform: adds a <c>Vector&lt;Single&gt;</c> memory column (length
/// <see cref="MemoryWidth"/>) holding the encoder's memory of each text's first <see cref="ChunkLength"/> tokens, and
/// regenerates texts from memories. Immutable; saves into and loads from the ML.NET model zip.
/// </summary>
public sealed class MixerAutoencoderTransformer : MixerTextModelTransformer
{
    internal const string LoaderSignature = "MixerAutoencoder";
    private const string WeightsStream = "AutoencoderWeights";

    private readonly MemoryAutoencoder model;

    internal MixerAutoencoderTransformer(IHostEnvironment env, MemoryAutoencoder model, TextTokenizer tokenizer, Device device,
                                         string inputColumnName, string memoryColumnName)
        : base(env, nameof(MixerAutoencoderTransformer), GetVersionInfo(), WeightsStream, model, tokenizer, device, inputColumnName, memoryColumnName)
    {
        this.model = model;
    }

    internal MemoryAutoencoder Model => model;

    /// <summary>Length of each memory vector.</summary>
    public int MemoryWidth => model.Config.MemoryWidth;

    /// <summary>Tokens per chunk: a longer text is remembered by its first ChunkLength tokens.</summary>
    public int ChunkLength => model.Config.ChunkLength;

    /// <summary>The token mixer of the encoder and decoder.</summary>
    public MixerLanguageModelArchitecture Architecture => model.Config.Encoder.Architecture;

    /// <summary>How the decoder reads the memory (zips saved before the mode was recorded are teacher-forced).</summary>
    public MemoryDecoding Decoding => model.Config.Decoding;

    /// <summary>Trainable weights of encoder, bottleneck and decoder.</summary>
    public long ParameterCount => model.ParameterCount;

    /// <summary>The text column read and the memory column added.</summary>
    public (string Input, string Output) Columns => (InputColumnName, OutputColumnName);

    /// <summary>The memories of <paramref name="texts"/>, row-major [N, MemoryWidth] in one array.</summary>
    public float[] Encode(IReadOnlyList<string> texts)
    {
        Host.CheckValue(texts, nameof(texts));
        if (texts.Any(t => t is null))
            throw Host.ExceptParam(nameof(texts), "A text is null.");
        var result = new float[texts.Count * MemoryWidth];
        lock (Gate)
        {
            using var noGrad = no_grad();
            for (int start = 0; start < texts.Count; start += 32)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(32, texts.Count - start);
                var memory = MemoryOf(texts.Skip(start).Take(count).ToArray());
                memory.cpu().data<float>().ToArray().CopyTo(result, start * MemoryWidth);
            }
        }
        return result;
    }

    /// <summary>Each text's first chunk regenerated from its memory (greedy decoding): equal to the chunk when the memory kept it all.</summary>
    public IReadOnlyList<string> Regenerate(IReadOnlyList<string> texts)
    {
        Host.CheckValue(texts, nameof(texts));
        lock (Gate)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            return model.Decoder.Regenerate(MemoryOf(texts), Tokenizer.EndOfText).Select(Tokenizer.Decode).ToArray();
        }
    }

    private Tensor MemoryOf(IReadOnlyList<string> texts)
    {
        var chunks = texts.Select(t => Tokenizer.Encode(t).Take(ChunkLength).ToArray()).ToArray();
        var (tokens, targets) = MemoryChunks.Rows(chunks, ChunkLength, Tokenizer.EndOfText, Device);
        return model.Memory(tokens, MemoryChunks.LastReal(targets)).to(ScalarType.Float32);
    }

    private static VersionInfo GetVersionInfo() => new(
        modelSignature: "MXAUTOEN",
        verWrittenCur: 0x00010003, // 2: the decoding mode recorded (older zips are teacher-forced); 3: unrolled decoders' cyclic slices
        verReadableCur: 0x00010003,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(MixerAutoencoderTransformer).Assembly.FullName);

    private protected override void SaveShape(BinaryWriter writer) => model.Config.Save(writer);

    private static MixerAutoencoderTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        var (input, output) = LoadColumns(ctx, GetVersionInfo());
        var config = MemoryAutoencoderConfig.Load(ctx.Reader, withDecoding: ctx.Header.ModelVerWritten >= 0x00010002, withSlices: ctx.Header.ModelVerWritten >= 0x00010003);
        var (model, tokenizer, device) = LoadWeights(env, ctx, WeightsStream, config.Encoder.VocabularySize, () => new MemoryAutoencoder(config));
        return new MixerAutoencoderTransformer(env, model, tokenizer, device, input, output);
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    private protected override DataViewType OutputType => new VectorDataViewType(NumberDataViewType.Single, MemoryWidth);

    private protected override Delegate MakeGetter(DataViewRow input, int textIndex) => TextColumn.VectorGetter(TextColumn.PerRow(input, textIndex, text => Encode([text])));
}
