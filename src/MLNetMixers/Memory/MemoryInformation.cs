using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Memory;
using MLNetMixers.Models;
using MLNetMixers.Text;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetMixers;

/// <summary>
/// Options of <c>MeasureMemoryInformation</c>: the chunks, and the fresh decoder trained to regenerate them from their
/// frozen memories. Every encoder compared should be measured with the same options (same decoder, same budget).
/// </summary>
public sealed class MemoryInformationOptions : SequenceTrainingOptions
{
    /// <summary>The measurement's defaults where they differ from <see cref="SequenceTrainingOptions"/>: 500 decoder steps.</summary>
    public MemoryInformationOptions()
    {
        Steps = 500;
    }

    /// <summary>The chunk text column (one chunk per row).</summary>
    public string TextColumnName = "Text";

    /// <summary>The vector column the encoder adds (e.g. "Memory" from an autoencoder, "Embedding" from <c>MixerEmbedding</c>).</summary>
    public string MemoryColumnName = "Memory";

    /// <summary>L: the decoder regenerates each row's first L tokens (characters) and the end of text after them.</summary>
    public int ChunkLength = 128;

    /// <summary>
    /// How the fresh decoder reads the memory. Unrolled is the paper's measurement (no tokens read, so its accuracy beyond the
    /// no-memory control, per-position frequencies, is what the memory kept); teacher-forced stays the default, as for the
    /// autoencoder, until a benchmark decides between them.
    /// </summary>
    public MemoryDecoding Decoding = MemoryDecoding.TeacherForced;

    internal void Validate()
    {
        ValidateTraining(minimumSteps: 0);
        AtLeast(ChunkLength, 1, nameof(ChunkLength));
        if (!Enum.IsDefined(Decoding))
            throw new ArgumentOutOfRangeException(nameof(Decoding), Decoding, "Unknown memory decoding.");
        if (string.IsNullOrEmpty(TextColumnName) || string.IsNullOrEmpty(MemoryColumnName))
            throw new ArgumentException("TextColumnName and MemoryColumnName must not be empty.", nameof(MemoryColumnName));
    }
}

/// <summary>
/// How much of its chunk a frozen embedding keeps, as a fresh decoder trained on it regenerates held-out chunks.
/// </summary>
/// <param name="TokenAccuracy">Held-out tokens (and end markers) whose most likely prediction is right (the paper's "token accuracy"); teacher-forced decoders are given the true earlier tokens.</param>
/// <param name="Loss">Held-out cross-entropy per token, in nats.</param>
/// <param name="MemoryWidth">Length of the memories read (0: no encoder, the control).</param>
/// <param name="TrainingChunks">Chunks the decoder trained on.</param>
/// <param name="HeldOutChunks">Chunks scored.</param>
/// <param name="Steps">Decoder training steps taken.</param>
/// <param name="TrainingTime">Time the decoder trained.</param>
public sealed record MemoryInformationResult(double TokenAccuracy, double Loss, int MemoryWidth, int TrainingChunks, int HeldOutChunks, int Steps, TimeSpan TrainingTime);

/// <summary>The measurement behind <c>MeasureMemoryInformation</c>.</summary>
internal static class MemoryInformation
{
    public static MemoryInformationResult Measure(IHostEnvironment env, IDataView training, IDataView heldOut, ITransformer? encoder, MemoryInformationOptions options)
    {
        var host = Contracts.CheckRef(env, nameof(env)).Register("MemoryInformation");
        host.CheckValue(training, nameof(training));
        host.CheckValue(heldOut, nameof(heldOut));
        host.CheckValue(options, nameof(options));
        options.Validate();
        var trainTexts = MixerLanguageModelEstimator.ReadDocuments(training, options.TextColumnName);
        var testTexts = MixerLanguageModelEstimator.ReadDocuments(heldOut, options.TextColumnName);
        if (trainTexts.Count == 0 || testTexts.Count == 0)
            throw new ArgumentException($"Both the training and the held-out data need chunks; they have {trainTexts.Count} and {testTexts.Count} rows.", nameof(training));
        // The memories are computed once: the encoder is frozen, only the decoder learns.
        float[,] trainMemories = encoder is null ? new float[trainTexts.Count, 1] : Memories(encoder, training, options.MemoryColumnName);
        float[,] testMemories = encoder is null ? new float[testTexts.Count, 1] : Memories(encoder, heldOut, options.MemoryColumnName);
        int width = trainMemories.GetLength(1);

        var tokenizer = TextTokenizer.Create(TextTokenization.Characters, null, trainTexts);
        int[][] Chunks(List<string> texts) => texts.Select(t => tokenizer.Encode(t).Take(options.ChunkLength).ToArray()).ToArray();
        using var threads = TorchRuntime.UseThreadCount(options.NumberOfThreads);
        var device = TorchRuntime.ResolveDevice(host, options.Device);
        var config = new LanguageModelConfig(options.Architecture, tokenizer.VocabularySize, options.ChunkLength + 1, options.Width,
                                             options.Depth, options.Heads, options.MlpRatio, Dropout: 0);
        using var decoder = new MemoryDecoder(width, config, options.Decoding);
        decoder.Initialize(options.Seed);
        decoder.to(device);
        var (tokens, targets) = MemoryChunks.Rows(Chunks(trainTexts), options.ChunkLength, tokenizer.EndOfText, device);
        using var memories = tensor(trainMemories, device: device);
        MemoryTrainingRun run;
        using (tokens)
        using (targets)
        {
            run = MemoryTraining.Train(host, "memory decoder", decoder, targets,
                (rows, t) => MemoryChunks.LossSum(decoder.forward(memories.index_select(0, rows), tokens.index_select(0, rows)), t), options.Settings, device);
        }

        var (accuracy, loss) = Score(decoder, Chunks(testTexts), testMemories, options.ChunkLength, tokenizer.EndOfText, device);
        return new MemoryInformationResult(accuracy, loss, encoder is null ? 0 : width, trainTexts.Count, testTexts.Count, run.Steps, run.Time);
    }

    /// <summary>Token accuracy and mean cross-entropy of the decoder over the chunks (teacher-forced decoders read the true earlier tokens).</summary>
    private static (double Accuracy, double Loss) Score(MemoryDecoder decoder, int[][] chunks, float[,] memories, int chunkLength, int endOfText, Device device)
    {
        using var noGrad = no_grad();
        long correct = 0, count = 0;
        double lossSum = 0;
        int width = memories.GetLength(1);
        for (int start = 0; start < chunks.Length; start += 32)
        {
            using var scope = NewDisposeScope();
            int n = Math.Min(32, chunks.Length - start);
            var (tokens, targets) = MemoryChunks.Rows(chunks[start..(start + n)], chunkLength, endOfText, device);
            var block = new float[n, width];
            Buffer.BlockCopy(memories, start * width * sizeof(float), block, 0, n * width * sizeof(float));
            var logits = decoder.forward(tensor(block, device: device), tokens);
            var real = targets.ge(0);
            correct += logits.argmax(2).eq(targets).logical_and(real).sum().item<long>();
            count += real.sum().item<long>();
            lossSum += MemoryChunks.LossSum(logits, targets).item<float>();
        }
        return (correct / (double)count, lossSum / count);
    }

    /// <summary>The encoder's vector column of every row, as [N, M].</summary>
    private static float[,] Memories(ITransformer encoder, IDataView data, string columnName)
    {
        var transformed = encoder.Transform(data);
        var column = transformed.Schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentException($"The encoder adds no column '{columnName}'; set MemoryColumnName to the vector column it adds.", nameof(encoder));
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType, Size: > 0 } vector || vector.ItemType != NumberDataViewType.Single)
            throw new ArgumentException($"Column '{columnName}' is {column.Type}, not a vector of Single of known length.", nameof(encoder));
        var rows = transformed.GetColumn<float[]>(column).ToList();
        var result = new float[rows.Count, vector.Size];
        for (int i = 0; i < rows.Count; i++)
            for (int j = 0; j < vector.Size; j++)
                result[i, j] = rows[i][j];
        return result;
    }
}
