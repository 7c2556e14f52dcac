using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>Real data as token tensors, for training the bare loop on something that has a loss worth comparing.</summary>
internal static class RealBatches
{
    /// <summary>
    /// A shared tabular CSV encoded by EncodeAsCharacters, numbers as digits: token ids [rows, T] int64, class ids [rows] int64,
    /// the sequence length and vocabulary size.
    /// </summary>
    public static (Tensor Tokens, Tensor Labels, int SequenceLength, int VocabularySize, int Classes) Tabular(string datasetsFolder, string file, string label, int? maxRows = null)
    {
        var ml = new MLContext(seed: 1);
        var data = LoadCsv(ml, Path.Combine(datasetsFolder, "tabular", file));
        if (maxRows is { } max)
            data = ml.Data.TakeRows(data, max);
        // Digits, not value tokens: the bare models these batches feed have no value embedding to give the tokens meaning.
        var encoder = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { ExcludedColumns = [label], NumberValueTokens = false }).Fit(data);
        var tokens = new List<int>();
        var labels = new List<string>();
        using (var cursor = data.GetRowCursor(data.Schema))
        {
            var row = encoder.BindRowEncoder(cursor);
            var labelGetter = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[label]);
            var ids = new int[encoder.SequenceLength];
            ReadOnlyMemory<char> value = default;
            while (cursor.MoveNext())
            {
                row.Encode(ids);
                tokens.AddRange(ids);
                labelGetter(ref value);
                labels.Add(value.ToString());
            }
        }
        var classes = labels.Distinct().Order(StringComparer.Ordinal).ToList();
        var labelIds = labels.Select(l => (long)classes.IndexOf(l)).ToArray();
        return (tensor(tokens.Select(t => (long)t).ToArray()).view(labels.Count, encoder.SequenceLength), tensor(labelIds),
                encoder.SequenceLength, encoder.VocabularySize, classes.Count);
    }

    /// <summary>A CSV with every column read as text except numeric-looking ones (inferred by ML.NET).</summary>
    public static IDataView LoadCsv(MLContext ml, string path)
    {
        var inferred = ml.Data.LoadFromTextFile(path, InferColumns(ml, path), separatorChar: ',', hasHeader: true, allowQuoting: true);
        return inferred;
    }

    private static TextLoader.Column[] InferColumns(MLContext ml, string path)
    {
        string[] header = SplitCsvLine(File.ReadLines(path).First());
        var sample = File.ReadLines(path).Skip(1).Take(2000).Select(SplitCsvLine).ToList();
        var columns = new TextLoader.Column[header.Length];
        for (int i = 0; i < header.Length; i++)
        {
            bool numeric = sample.All(r => i >= r.Length || r[i].Length == 0 || double.TryParse(r[i], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _));
            columns[i] = new TextLoader.Column(header[i], numeric ? DataKind.Single : DataKind.String, i);
        }
        return columns;
    }

    internal static string[] SplitCsvLine(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else current.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        fields.Add(current.ToString());
        return fields.ToArray();
    }

    /// <summary>The corpus as bytes (vocabulary 256), for byte-level language-model batches.</summary>
    public static byte[] TextBytes(string datasetsFolder, string file) => File.ReadAllBytes(Path.Combine(datasetsFolder, "text", file));

    /// <summary>A batch of random windows: inputs [B, T] and next-byte targets [B, T].</summary>
    public static (Tensor Tokens, Tensor Targets) LanguageModelBatch(byte[] corpus, int batch, int length, Random random)
    {
        var inputs = new long[batch * length];
        var targets = new long[batch * length];
        for (int b = 0; b < batch; b++)
        {
            int start = random.Next(corpus.Length - length - 1);
            for (int t = 0; t < length; t++)
            {
                inputs[b * length + t] = corpus[start + t];
                targets[b * length + t] = corpus[start + t + 1];
            }
        }
        return (tensor(inputs).view(batch, length), tensor(targets).view(batch, length));
    }
}

/// <summary>One document of a text column, for LoadFromEnumerable.</summary>
internal sealed class TextRow
{
    public string Text { get; set; } = "";
}
