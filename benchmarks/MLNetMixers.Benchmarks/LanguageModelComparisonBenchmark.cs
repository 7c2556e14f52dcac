using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Text;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// The masked-mixer paper's comparison at equal compute, on this CPU: flat and multi-head masked mixers, the Toeplitz
/// mixer and both transformers (GPT-2 and Llama style), each trained for the same wall-clock budget through the
/// public estimator (the schedule follows the clock) on the same windows, at several n_ctx, on fortunes and/or the
/// Debian package descriptions, in characters and/or learned subwords. Reports held-out loss (nats per character,
/// bits per byte), tokens per second, weights, the training loss when every model of a row group had seen the same
/// number of tokens, and a picture of training loss against time. Reference rows on the same split: add-k character
/// n-gram models (k tuned on a slice of the training text) and gzip, bzip2 and xz.
/// Parameters (environment): MLNETMIXERS_LM_SECONDS (budget per model, default 120), MLNETMIXERS_LM_CONTEXTS
/// ("128,512"), MLNETMIXERS_LM_CORPORA ("fortunes"; or "debian", or both), MLNETMIXERS_LM_TOKENIZATIONS
/// ("Characters"; or "Subwords", or both), MLNETMIXERS_LM_MODELS (a subset of the model names below),
/// MLNETMIXERS_LM_WIDTH (128), MLNETMIXERS_LM_DEPTH (4), MLNETMIXERS_LM_THREADS (2), MLNETMIXERS_LM_CONTEXT_WARMUP
/// (ContextWarmupFraction, 0).
/// </summary>
internal sealed class LanguageModelComparisonBenchmark : IBenchmark
{
    public string Name => "LanguageModelComparison";

    private sealed record ModelSpec(string Name, MixerLanguageModelArchitecture Architecture, int Heads);

    private static readonly ModelSpec[] Models =
    [
        new("MaskedMixer", MixerLanguageModelArchitecture.MaskedMixer, 1),
        new("MaskedMixer-4h", MixerLanguageModelArchitecture.MaskedMixer, 4),
        new("Toeplitz", MixerLanguageModelArchitecture.ToeplitzMixer, 1),
        new("GPT", MixerLanguageModelArchitecture.Transformer, 4),
        new("Llama", MixerLanguageModelArchitecture.LlamaTransformer, 4),
        new("SRM-4h", MixerLanguageModelArchitecture.StructuredRecurrentMixer, 4),
    ];

    private const int TokensPerStep = 4096;

    public void Run(BenchmarkContext context)
    {
        bool smoke = context.Smoke;
        double seconds = smoke ? 0.2 : double.Parse(Setting("SECONDS", "120"), CultureInfo.InvariantCulture);
        int[] contexts = smoke ? [16] : Setting("CONTEXTS", "128,512").Split(',').Select(int.Parse).ToArray();
        string[] corpora = smoke ? ["fortunes"] : Setting("CORPORA", "fortunes").Split(',');
        var tokenizations = (smoke ? "Characters,Subwords" : Setting("TOKENIZATIONS", "Characters")).Split(',').Select(Enum.Parse<TextTokenization>).ToArray();
        var wanted = Setting("MODELS", string.Join(",", Models.Select(m => m.Name))).Split(',');
        var models = Models.Where(m => wanted.Contains(m.Name)).ToArray();
        int width = smoke ? 16 : int.Parse(Setting("WIDTH", "128"));
        int depth = smoke ? 1 : int.Parse(Setting("DEPTH", "4"));
        int threads = smoke ? 1 : int.Parse(Setting("THREADS", "2"));
        double contextWarmup = smoke ? 0.5 : double.Parse(Setting("CONTEXT_WARMUP", "0"), CultureInfo.InvariantCulture);
        string plotFolder = smoke ? Path.GetTempPath() : Environment.GetEnvironmentVariable("MLNETMIXERS_RESULTS_FOLDER") is { Length: > 0 } folder ? folder : Path.Combine(BenchmarkRunner.FindRepository(), "benchmarks", "results");

        context.Report.Note($"Every model: width {width}, depth {depth}, MLP ratio 4, {TokensPerStep} tokens per step (batch = {TokensPerStep}/n_ctx windows at random offsets, " +
                            $"the same for every model), AdamW 2e-3 (weight decay 0.01, clip 1), 50 warm-up steps, cosine decay to 0.1x following the clock, " +
                            $"**{seconds:G} s of training per model** (MaxTrainingTime), {threads} torch threads, CPU, float32. Multi-head models have 4 heads. " +
                            (contextWarmup > 0 ? $"Windows grow from 64 tokens to n_ctx over the first {contextWarmup:P0} of the budget (ContextWarmupFraction). " : "") +
                            "Held-out loss over consecutive n_ctx windows of the held-out documents (the first positions of a window see little context). " +
                            "nats/char = total held-out nats / (characters + one end of text per document); bits per byte = total bits / (UTF-8 bytes + one per document). " +
                            "'CPU s' is the process's CPU time during training (all threads): on a shared machine it shows how much compute a model really got. " +
                            "'train loss @ equal CPU time': the same at the CPU time the least-served model of the group got. " +
                            "'train loss @ equal tokens' is the training loss (mean of the last logged interval, nats per token) when every model of the group had seen as many tokens as the slowest one.");
        foreach (string corpus in corpora)
        {
            var (train, heldOut, description) = LoadCorpus(context, corpus, smoke);
            context.Report.Section($"{corpus}: {description}");
            ReferenceRows(context, train, heldOut);
            foreach (var tokenization in tokenizations)
            {
                var ml = new MLContext(seed: 1);
                var trainData = ml.Data.LoadFromEnumerable(train.Select(t => new TextRow { Text = t }));
                var rows = new List<IReadOnlyList<string>>();
                var curves = new List<(string Label, List<(double Seconds, double Cpu, double Loss, long Tokens)> Points)>();
                foreach (int n in contexts)
                {
                    var group = new List<(int Row, List<(double Seconds, double Cpu, double Loss, long Tokens)> Points)>();
                    foreach (var spec in models)
                    {
                        var points = new List<(double Seconds, double Cpu, double Loss, long Tokens)>();
                        var clock = new Stopwatch();
                        var process = Process.GetCurrentProcess();
                        var cpuBefore = process.TotalProcessorTime;
                        int batch = Math.Max(1, TokensPerStep / n);
                        var options = new MixerLanguageModelOptions
                        {
                            Architecture = spec.Architecture,
                            Heads = spec.Heads,
                            Tokenization = tokenization,
                            SubwordVocabularySize = 2048,
                            ContextLength = n,
                            Width = width,
                            Depth = depth,
                            BatchSize = batch,
                            Steps = int.MaxValue,
                            MaxTrainingTime = TimeSpan.FromSeconds(seconds),
                            WarmupSteps = smoke ? 1 : 50,
                            LearningRate = 2e-3,
                            ContextWarmupFraction = contextWarmup,
                            Seed = 1,
                            NumberOfThreads = threads,
                            Device = MixerDevice.Cpu,
                            LogInterval = smoke ? 1 : 10,
                            Progress = new Recorder(p =>
                            {
                                process.Refresh();
                                points.Add((clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpuBefore).TotalSeconds, p.Loss, (long)p.Step * batch * n));
                            }),
                        };
                        clock.Start();
                        using var model = ml.Transforms.Text.TrainMixerLanguageModel("Text", options).Fit(trainData);
                        double trained = clock.Elapsed.TotalSeconds;
                        process.Refresh();
                        double cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
                        long tokens = points.Count > 0 ? points[^1].Tokens : 0;
                        var metrics = model.Evaluate(heldOut);
                        double natsPerChar = metrics.NatsPerCharacter;
                        rows.Add([corpus, tokenization.ToString(), n.ToString(), spec.Name, $"{model.ParameterCount:N0}", $"{trained:F0}", $"{cpu:F0}",
                                  $"{tokens:N0}", $"{tokens / trained:N0}", "", "", $"{natsPerChar:F3}", $"{metrics.BitsPerByte:F3}"]);
                        group.Add((rows.Count - 1, points));
                        curves.Add(($"{spec.Name} n_ctx {n}", points));
                        context.Log.WriteLine($"   {corpus} {tokenization} n_ctx {n} {spec.Name} ({model.ParameterCount:N0} weights): {tokens:N0} tokens in {trained:F0} s, held-out {natsPerChar:F3} nats/char, {metrics.BitsPerByte:F3} bits/byte");
                    }
                    // The second view: every model's training loss at the token count the slowest one reached.
                    // And at the CPU time the least-served one got: on a shared machine, equal wall-clock is not equal compute.
                    long common = group.Min(g => g.Points.Count > 0 ? g.Points[^1].Tokens : 0);
                    double commonCpu = group.Min(g => g.Points.Count > 0 ? g.Points[^1].Cpu : 0);
                    foreach (var (row, points) in group)
                    {
                        var at = points.LastOrDefault(p => p.Tokens <= common);
                        var atCpu = points.LastOrDefault(p => p.Cpu <= commonCpu);
                        var cells = rows[row].ToArray();
                        cells[9] = points.Count == 0 ? "" : $"{at.Loss:F3} @ {common / 1e6:F2}M";
                        cells[10] = points.Count == 0 ? "" : $"{atCpu.Loss:F3} @ {commonCpu:F0} s";
                        rows[row] = cells;
                    }
                }
                context.Report.Table(["corpus", "tokens", "n_ctx", "model", "weights", "train s", "CPU s", "tokens seen", "tokens/s",
                                      "train loss @ equal tokens (nats/token)", "train loss @ equal CPU time", "held-out nats/char", "held-out bits/byte"], rows);
                string png = $"{Name}-{corpus}-{tokenization}.png";
                Plot(Path.Combine(plotFolder, png), $"{corpus}, {tokenization.ToString().ToLowerInvariant()}: training loss against CPU time", curves,
                     tokenization == TextTokenization.Characters ? "training loss (nats/char)" : "training loss (nats/token)");
                context.Report.Note($"![training loss against CPU time]({png})");
            }
        }
    }

    private static string Setting(string name, string fallback) => Environment.GetEnvironmentVariable("MLNETMIXERS_LM_" + name) is { Length: > 0 } v ? v : fallback;

    private sealed class Recorder(Action<LanguageModelTrainingProgress> action) : IProgress<LanguageModelTrainingProgress>
    {
        public void Report(LanguageModelTrainingProgress value) => action(value);
    }

    /// <summary>Fortunes: the last 300 held out (as the earlier comparison). Debian descriptions: the last 2,000 rows held out.</summary>
    internal static (string[] Train, string[] HeldOut, string Description) LoadCorpus(BenchmarkContext context, string corpus, bool smoke)
    {
        if (corpus == "fortunes")
        {
            var (train, heldOut) = Fortunes(context);
            return (train, heldOut, $"Debian fortunes, {train.Length} for training ({train.Sum(t => t.Length):N0} characters), the last {heldOut.Length} held out.");
        }
        if (corpus == "debian")
        {
            var descriptions = LoadDebianDescriptions(new MLContext(seed: 1), Path.Combine(context.DatasetsFolder, "text", "debian-descriptions.csv"));
            int heldOutCount = smoke ? 5 : 2000;
            var train = smoke ? descriptions[..50] : descriptions[..^heldOutCount];
            return (train, descriptions[^heldOutCount..], $"Debian package descriptions (Description column), {train.Length} for training ({train.Sum(t => t.Length):N0} characters), the last {heldOutCount} held out.");
        }
        throw new ArgumentException($"Unknown corpus '{corpus}' in MLNETMIXERS_LM_CORPORA (fortunes or debian).");
    }

    /// <summary>Debian fortunes without backspace overstrikes: all but the last 300 for training (50 in smoke mode), those 300 held out (5).</summary>
    internal static (string[] Train, string[] HeldOut) Fortunes(BenchmarkContext context)
    {
        var fortunes = File.ReadAllText(Path.Combine(context.DatasetsFolder, "text", "fortunes.txt"))
            .Split("\n%\n", StringSplitOptions.RemoveEmptyEntries)
            .Where(f => !f.Any(c => c < ' ' && c is not '\n' and not '\t'))   // drop backspace overstrikes
            .ToArray();
        int heldOutCount = context.Smoke ? 5 : 300;
        return (context.Smoke ? fortunes[..50] : fortunes[..^heldOutCount], fortunes[^heldOutCount..]);
    }

    /// <summary>A step-count recipe on this split (SrmGeneration's): AdamW 2e-3, 10 % warm-up, cosine decay, one thread, CPU, seed 1.</summary>
    internal static MixerLanguageModelOptions Options(MixerLanguageModelArchitecture architecture, int n, int width, int depth, int heads, int tokensPerStep, int steps) => new()
    {
        Architecture = architecture,
        ContextLength = n,
        Width = width,
        Depth = depth,
        Heads = heads,
        BatchSize = Math.Max(1, tokensPerStep / n),
        Steps = steps,
        WarmupSteps = Math.Max(1, steps / 10),
        LearningRate = 2e-3,
        Seed = 1,
        NumberOfThreads = 1,
        Device = MixerDevice.Cpu,
        LogInterval = Math.Max(1, steps / 5),
    };

    /// <summary>The CSV through ML.NET's text loader: RFC 4180 quoting with line breaks inside quoted fields.</summary>
    internal static string[] LoadDebianDescriptions(MLContext ml, string path)
    {
        var data = ml.Data.LoadFromTextFile(path, new TextLoader.Options
        {
            Separators = [','],
            HasHeader = true,
            AllowQuoting = true,
            ReadMultilines = true,
            Columns = [new TextLoader.Column("Description", DataKind.String, ReadDescriptionColumn(path))],
        });
        return MixerLanguageModelEstimator.ReadDocuments(data, "Description").Where(d => d.Length > 0).ToArray();
    }

    private static int ReadDescriptionColumn(string path)
    {
        using var reader = new StreamReader(path);
        var header = (reader.ReadLine() ?? "").Split(',');
        int index = Array.IndexOf(header, "Description");
        return index >= 0 ? index : throw new InvalidDataException($"'{path}' has no Description column in its header.");
    }

    private static void ReferenceRows(BenchmarkContext context, string[] train, string[] heldOut)
    {
        var tokenizer = CharacterTokenizer.Learn(train);
        int[] trainStream = LanguageModelTrainer.Pack(train, tokenizer), heldOutStream = LanguageModelTrainer.Pack(heldOut, tokenizer);
        double chars = heldOut.Sum(d => (double)d.Length) + heldOut.Length;
        double bytes = heldOut.Sum(d => (double)System.Text.Encoding.UTF8.GetByteCount(d)) + heldOut.Length;
        var rows = new List<IReadOnlyList<string>>();
        for (int order = 1; order <= 5; order++)
        {
            var (nats, k) = CharacterNgramBaseline.HeldOutNats(trainStream, heldOutStream, tokenizer.VocabularySize, order);
            rows.Add([$"{order}-gram characters, add-k (k = {k:G2}, tuned on the last 10 % of the training text)", $"{nats / chars:F3}", $"{nats / Math.Log(2) / bytes:F3}"]);
        }
        foreach (var (tool, arguments) in new[] { ("gzip", "-9 -c"), ("bzip2", "-9 -c"), ("xz", "-9e -c") })
        {
            byte[] trainBytes = System.Text.Encoding.UTF8.GetBytes(string.Join("\n", train) + "\n");
            byte[] heldOutBytes = System.Text.Encoding.UTF8.GetBytes(string.Join("\n", heldOut) + "\n");
            long? alone = CompressedSize(tool, arguments, heldOutBytes);
            long? both = CompressedSize(tool, arguments, [.. trainBytes, .. heldOutBytes]);
            long? trainOnly = CompressedSize(tool, arguments, trainBytes);
            if (alone is null || both is null || trainOnly is null)
            {
                rows.Add([$"{tool} {arguments}", "not installed", "not installed"]);
                continue;
            }
            rows.Add([$"{tool} {arguments}, held-out text alone", "", $"{alone.Value * 8 / bytes:F3}"]);
            rows.Add([$"{tool} {arguments}, after the training text (size(train + held-out) - size(train))", "", $"{(both.Value - trainOnly.Value) * 8 / bytes:F3}"]);
        }
        context.Report.Table(["reference (same held-out split)", "nats/char", "bits/byte"], rows);
    }

    private static long? CompressedSize(string tool, string arguments, byte[] input)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false })!;
            var counting = Task.Run(() =>
            {
                long total = 0;
                var buffer = new byte[1 << 16];
                int read;
                while ((read = process.StandardOutput.BaseStream.Read(buffer)) > 0)
                    total += read;
                return total;
            });
            process.StandardInput.BaseStream.Write(input);
            process.StandardInput.Close();
            process.WaitForExit();
            return process.ExitCode == 0 ? counting.Result : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;   // the tool is not installed
        }
    }

    private static void Plot(string path, string title, List<(string Label, List<(double Seconds, double Cpu, double Loss, long Tokens)> Points)> curves, string yLabel)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (label, points) in curves.Where(c => c.Points.Count > 0))
        {
            var line = plot.Add.Scatter(points.Select(p => p.Cpu).ToArray(), points.Select(p => p.Loss).ToArray());
            line.LegendText = label;
            line.MarkerSize = 0;
        }
        plot.Title(title);
        plot.XLabel("CPU time of training (s, all threads)");
        plot.YLabel(yLabel);
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.SavePng(path, 900, 560);
    }
}

