using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers.LightGbm;
using MLNetMixers.Experiment;
using MLNetMixers.Training;

namespace MLNetMixers;

/// <summary>
/// A time-budgeted search in the spirit of AutoML's BinaryClassificationExperiment, reached through
/// <c>mlContext.BinaryClassification.MixerExperiment(options)</c> (and the multiclass and regression catalogs): trials
/// of the mixer (width, depth, epochs, dropout, learning rate) and of LightGBM (leaves, learning rate, iterations,
/// minimum rows per leaf), each scored by k-fold cross-validation inside the rows given to <see cref="Execute"/> (one
/// validation split on large tables). Each family starts at its trainer's defaults (LightGBM's first, being fast), then
/// samples around its best so far;
/// the family that has used less time runs next, so the cheap trees get as much of the budget as the mixer, and a mixer
/// too slow for the budget caps its trials to leave the trees at least <see cref="TreesMinimumShare"/> of it. Last, a
/// weighted average of the best mixer's out-of-fold predictions and those of the top few distinct tree trials
/// (<see cref="MixerExperimentOptions.EnsembleTreeTrials"/>), its weight chosen on nested out-of-fold predictions, is
/// scored the same way and chosen only when it beats both. The chosen models are refitted on every row (the mixer may
/// instead average its best trial's fold networks: <see cref="MixerExperimentOptions.AverageMixerFoldModels"/>).
/// Rows held out for testing must not be passed in: nothing else keeps them out of the choice.
/// </summary>
public sealed class MixerExperiment
{
    private const string EnsembleMixerColumn = "__EnsembleMixer";
    private const string EnsembleTreesColumn = "__EnsembleLightGbm";

    /// <summary>
    /// Share of the budget kept for the trees' search when the mixer's trials are capped by time: without it a slow mixer's
    /// first trial and refit took the whole budget and the "tuned" trees were only their defaults.
    /// </summary>
    internal const double TreesMinimumShare = 0.2;

    /// <summary>
    /// Trials per family whose out-of-fold predictions are kept for the ensemble's nested weight: a fold's top few, chosen
    /// on two thirds of the rows, come from far fewer than the best 64 on all of them.
    /// </summary>
    private const int MaxScored = 64;

    /// <summary>A family is dropped after this many failed trials in a row (e.g. LightGBM finding no split on tiny tables).</summary>
    private const int MaxFailuresInARow = 3;

    private readonly IHost host;
    private readonly MLContext ml;
    private readonly MixerTask task;
    private readonly MixerExperimentOptions options;
    private readonly int seed;

    internal MixerExperiment(IHostEnvironment env, MixerTask task, MixerExperimentOptions options)
    {
        Contracts.CheckValue(env, nameof(env));
        host = env.Register(nameof(MixerExperiment));
        host.CheckValue(options, nameof(options));
        host.CheckUserArg(options.NumberOfFolds >= 2, nameof(options.NumberOfFolds), "must be at least 2");
        host.CheckUserArg(options.MaxExperimentTime > TimeSpan.Zero, nameof(options.MaxExperimentTime), "must be positive");
        host.CheckUserArg(options.ValidationFraction is > 0 and < 1, nameof(options.ValidationFraction), "must be in (0, 1)");
        host.CheckUserArg(options.SearchMixer || options.SearchTrees, nameof(options.SearchMixer), "the experiment needs the mixer, the trees or both");
        host.CheckUserArg(options.EnsembleTreeTrials >= 1, nameof(options.EnsembleTreeTrials), "must be at least 1");
        this.task = task;
        this.options = options;
        seed = options.Seed ?? (env is IHostEnvironmentInternal { Seed: int s } ? s : 1);
        // The LightGBM and transform catalogs hang off an MLContext; the catalog's environment is one.
        ml = env as MLContext ?? new MLContext(seed);
    }

    /// <summary>What the experiment predicts.</summary>
    public MixerTask Task => task;

    /// <summary>
    /// Runs trials until the time budget or the token ends the search, then returns the chosen model (refitted on every
    /// row of <paramref name="trainData"/> when time allows) and the leaderboard.
    /// </summary>
    /// <param name="trainData">The training rows only: the label and the raw feature columns.</param>
    public MixerExperimentResult Execute(IDataView trainData)
    {
        host.CheckValue(trainData, nameof(trainData));
        var clock = Stopwatch.StartNew();
        var budget = options.MaxExperimentTime;
        var user = options.CancellationToken;
        user.ThrowIfCancellationRequested();

        var label = CheckLabel(trainData.Schema);
        string[] features = ResolveFeatures(trainData.Schema);
        var data = ml.Data.Cache(trainData);
        long rows = RowCount.Of(data);
        if (rows < 2 * options.NumberOfFolds)
            throw host.Except($"The experiment needs at least {2 * options.NumberOfFolds} training rows for {options.NumberOfFolds}-fold cross-validation; got {rows}.");
        bool split = rows > options.CrossValidationMaxRows;
        var folds = split
            ? [ml.Data.TrainTestSplit(data, options.ValidationFraction, seed: seed)]
            : ml.Data.CrossValidationSplit(data, options.NumberOfFolds, seed: seed).ToList();
        string validation = split
            ? $"one {options.ValidationFraction:P0} validation split of {rows} rows"
            : $"{options.NumberOfFolds}-fold cross-validation on {rows} rows";
        // The mixer's final model is its best trial's fold networks averaged: no refit (one split has no folds to average).
        bool bagMixer = options.AverageMixerFoldModels && !split;
        // A full refit costs about one fold's fit scaled to every row.
        double refitPerTrialSecond = split ? 1 / (1 - options.ValidationFraction) : 1.0 / (folds.Count - 1);
        var foldLabels = folds.Select(f => ReadLabels(f.TestSet, label.Name)).ToList();
        float[] labels = [.. foldLabels.SelectMany(l => l)];
        int[] foldEnds = foldLabels.Select((_, f) => foldLabels.Take(f + 1).Sum(l => l.Length)).ToArray();

        PrepareEncoding(trainData.Schema, features);
        var treeFeaturizer = options.SearchTrees ? TreeFeaturizer.Create(ml, data, features) : null;

        var mixer = new FamilyState(ExperimentFamily.Mixer, SearchSpace.Mixer(DefaultMixerOptions().Epochs), options.SearchMixer, 1);
        // The trees keep their top few trials for the ensemble; the mixer's trials are too few and too slow to refit for it.
        var trees = new FamilyState(ExperimentFamily.LightGbm, SearchSpace.LightGbm(), options.SearchTrees,
                                    options.Ensemble && options.SearchMixer ? options.EnsembleTreeTrials : 1);
        // The trees' defaults run first: seconds on most tables, they give every budget a working model and a yardstick.
        var families = new[] { trees, mixer };
        var trials = new List<ExperimentTrial>();
        var random = new Random(seed);
        string metricName = OutOfFoldMetric.Name(task);
        bool cancelled = false;

        double RefitReserve() => families.Where(f => f != mixer || !bagMixer).Sum(f => f.LeaderSeconds * refitPerTrialSecond);
        double Remaining() => budget.TotalSeconds - clock.Elapsed.TotalSeconds;
        // What a mixer trial leaves untouched: the trees' refit and what is still owed of their minimum share.
        double TreesReserve() => trees.Best is null ? 0 : trees.LeaderSeconds + Math.Max(0, TreesMinimumShare * budget.TotalSeconds - trees.SecondsSpent);

        while (!cancelled)
        {
            if (user.IsCancellationRequested)
            {
                cancelled = true;
                break;
            }
            // The family that has used less time goes next (a family without a trial first), if its trial fits.
            FamilyState? family = null;
            int[]? position = null;
            foreach (var candidate in families.Where(f => f.Enabled).OrderBy(f => f.Trials > 0).ThenBy(f => f.SecondsSpent))
            {
                var next = candidate.Space.Next(candidate.BestPosition, random);
                double estimate = candidate.Estimate(next) ?? 0;
                if (candidate.Trials == 0 || estimate + RefitReserve() < Remaining())
                {
                    family = candidate;
                    position = next;
                    break;
                }
            }
            if (family is null || position is null || Remaining() <= 0)
                break;
            family.Space.Tried(position);

            var trialClock = Stopwatch.StartNew();
            var predictions = new List<float[]>();
            // The first fold's model stands in when the refit is cancelled; a fold-averaged mixer keeps every fold's (so do
            // the benchmarks', to score the fold average beside the refit).
            bool keepEveryFold = family == mixer && (bagMixer || options.KeepFamilyModels);
            var foldModels = new List<ITransformer>();
            string? error = null;
            try
            {
                for (int f = 0; f < folds.Count; f++)
                {
                    user.ThrowIfCancellationRequested();
                    // Out of time: a family's later trials are abandoned between folds, but its first runs to the end (its
                    // folds are time-capped below), so that every family that started has a model to offer.
                    if (Remaining() <= 0 && family.Best is not null)
                        throw new OperationCanceledException("The experiment's time is up.");
                    options.ObserveFit?.Invoke(family.Family, folds[f].TrainSet, folds[f].TestSet);
                    // The mixer's time cap leaves room for the folds still to come and the refit: a run the cap stops
                    // still ends with its learning rate annealed, so a small budget gives a short but finished trial.
                    double refitShare = family == mixer && bagMixer ? 0 : refitPerTrialSecond * folds.Count;
                    var cap = TimeSpan.FromSeconds(Math.Max(1, (Remaining() - (family == mixer ? TreesReserve() : 0)) / (folds.Count - f + refitShare)));
                    var foldModel = Fit(family.Family, family.Space, position, folds[f].TrainSet, treeFeaturizer, cap, user);
                    predictions.AddRange(ReadPredictions(foldModel.Transform(folds[f].TestSet)));
                    if (f == 0 || keepEveryFold)
                        foldModels.Add(foldModel);
                    else
                        (foldModel as IDisposable)?.Dispose();
                }
            }
            catch (OperationCanceledException)
            {
                // The budget or the user stopped this trial mid-way: it is discarded, the best so far stands.
                Dispose(foldModels);
                cancelled = user.IsCancellationRequested;
                break;
            }
            catch (Exception failure) when (failure is not OutOfMemoryException)
            {
                error = FirstLine(failure.Message);
                Dispose(foldModels);
                foldModels.Clear();
            }

            double metric = error is null ? OutOfFoldMetric.Compute(task, [.. predictions], labels) : double.NaN;
            if (error is null && double.IsNaN(metric))
                error = $"{metricName} is undefined on these rows";
            var trial = new ExperimentTrial(trials.Count + 1, family.Family, family.Space.Describe(position), metric, metricName, trialClock.Elapsed.TotalSeconds, error);
            trials.Add(trial);
            family.Record(trial, position, error is null ? [.. predictions] : null, [.. foldModels]);
            options.Progress?.Report(trial);
        }

        // The ensemble is scored on the same pooled out-of-fold rows as its members. Its trees are the equal average of the
        // family's top trials. Its mixer weight is chosen on nested out-of-fold predictions (each fold's rows predicted by
        // the trials ranked best on the other folds): on the plain ones the trees, the best of hundreds of trials, looked
        // better than they were and drew the weight (benchmarks/results/AccuracyExperiment.md). One split has no other folds.
        ExperimentTrial? ensemble = null;
        double mixerWeight = 0.5;
        if (options.Ensemble && mixer.Best is { } bestMixer && trees.Best is not null)
        {
            var treeLeaders = trees.Leaders.Select(l => l.Predictions).ToArray();
            var treePredictions = OutOfFoldMetric.Average(Enumerable.Repeat(1.0 / treeLeaders.Length, treeLeaders.Length).ToArray(), treeLeaders);
            mixerWeight = folds.Count > 1
                ? EnsembleWeight(task, OutOfFoldMetric.Nested(task, mixer.Scored, foldEnds, labels, 1),
                                 OutOfFoldMetric.Nested(task, trees.Scored, foldEnds, labels, treeLeaders.Length), labels).MixerWeight
                : EnsembleWeight(task, mixer.Best.Predictions, treePredictions, labels).MixerWeight;
            double metric = OutOfFoldMetric.Compute(task, OutOfFoldMetric.Average([mixerWeight, 1 - mixerWeight], mixer.Best.Predictions, treePredictions), labels);
            ensemble = new ExperimentTrial(trials.Count + 1, ExperimentFamily.Ensemble,
                new Dictionary<string, string>
                {
                    ["Mixer"] = $"#{bestMixer.Trial.Number}",
                    ["LightGbm"] = string.Join(" ", trees.Leaders.Select(l => $"#{l.Trial.Number}")),
                    ["MixerWeight"] = $"{mixerWeight:0.0}",
                },
                metric, metricName, 0, null);
            trials.Add(ensemble);
            options.Progress?.Report(ensemble);
        }

        var choices = new List<(ExperimentFamily Family, double Metric)>();
        if (mixer.Best is { } m)
            choices.Add((ExperimentFamily.Mixer, m.Trial.Metric));
        if (trees.Best is { } t)
            choices.Add((ExperimentFamily.LightGbm, t.Trial.Metric));
        if (ensemble is { Metric: var e } && !double.IsNaN(e))
            choices.Add((ExperimentFamily.Ensemble, e));
        if (choices.Count == 0)
        {
            if (user.IsCancellationRequested)
                throw new OperationCanceledException("The experiment was cancelled before any trial finished.", user);
            var errors = trials.Where(x => x.Error is not null).Select(x => $"{x.Family}: {x.Error}").Distinct().ToList();
            throw host.Except($"No trial finished within the experiment's {budget.TotalSeconds:F0} s" +
                              (errors.Count > 0 ? $" ({string.Join("; ", errors)})." : "; give it more time."));
        }
        // Ties go to the simpler model: a single family before the ensemble, the trees before the mixer.
        var chosen = choices.OrderByDescending(c => c.Metric).ThenBy(c => c.Family == ExperimentFamily.Ensemble).ThenBy(c => c.Family == ExperimentFamily.Mixer).First().Family;

        var members = chosen == ExperimentFamily.Ensemble ? new[] { mixer, trees } : [chosen == ExperimentFamily.Mixer ? mixer : trees];
        if (options.KeepFamilyModels)
            members = families.Where(f => f.Best is not null).ToArray();
        // The trees' runners-up are refitted only for the ensemble.
        bool bagTrees = chosen == ExperimentFamily.Ensemble || options.KeepFamilyModels && ensemble is not null;
        FamilyState.Leader[] Refitting(FamilyState family) => family == trees && bagTrees ? [.. family.Leaders] : [family.Best!];
        bool Refits(FamilyState family) => family != mixer || !bagMixer;
        // Before any refit (and when it is cancelled): the fold-averaged mixer's networks, the others' first-fold models.
        var finals = members.ToDictionary(f => f.Family, f => Refits(f) ? Refitting(f).Select(l => l.FoldModels[0]).ToArray() : f.Best!.FoldModels);
        bool refitted = false;
        // The refit runs even when the search used up the budget: a first-fold model saw only (k-1)/k of the rows, and the
        // refit costs about one fold's fit. Only cancellation skips it.
        if (options.Refit && !cancelled && !user.IsCancellationRequested)
        {
            // Filled as the fits finish, so that a cancelled refit can release what it made.
            var refits = new Dictionary<ExperimentFamily, List<ITransformer>>();
            try
            {
                foreach (var family in members.Where(Refits))
                {
                    var fitted = refits[family.Family] = [];
                    // The mixer's cap is what is left of the budget less the trees' refits, but never less than its trial's
                    // fold time scaled to every row, so that a late refit still trains its epochs.
                    double reserve = family == mixer && members.Length > 1 ? Refitting(trees).Sum(l => l.Trial.Seconds) * refitPerTrialSecond : 0;
                    foreach (var leader in Refitting(family))
                    {
                        options.ObserveFit?.Invoke(family.Family, data, null);
                        var cap = TimeSpan.FromSeconds(Math.Max(1.5 * leader.Trial.Seconds * refitPerTrialSecond, Remaining() - reserve));
                        fitted.Add(Fit(family.Family, family.Space, leader.Position, data, treeFeaturizer, cap, user));
                    }
                }
                foreach (var (family, fitted) in refits)
                    finals[family] = [.. fitted];
                refitted = true;
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C during the refit: the first-fold models (and the fold-averaged mixer) are the best so far.
                Dispose(refits.Values.SelectMany(m => m));
                cancelled = true;
            }
        }
        // Benchmarks: the best mixer trial's fold networks beside its refit, to score the fold average in the same run.
        var mixerFolds = options.KeepFamilyModels && !bagMixer && !split && refitted && mixer.Best is { } b ? b.FoldModels : null;
        // Only the chosen models are kept: release the rest.
        var kept = finals.Values.SelectMany(m => m).Concat(mixerFolds ?? []).ToHashSet(ReferenceEqualityComparer.Instance);
        Dispose(families.SelectMany(f => f.Leaders).SelectMany(l => l.FoldModels).Where(m => !kept.Contains(m)));

        ITransformer ModelOf(ExperimentFamily family) => family switch
        {
            ExperimentFamily.Ensemble => Compose(finals[ExperimentFamily.Mixer], finals[ExperimentFamily.LightGbm], data, mixerWeight),
            ExperimentFamily.Mixer when finals[family].Length > 1 => Compose(finals[family], [], data, 1),
            _ => finals[family][0],
        };
        var model = ModelOf(chosen);
        var familyModels = options.KeepFamilyModels
            ? finals.Keys.Append(ExperimentFamily.Ensemble).Where(f => f != ExperimentFamily.Ensemble || finals.Count == 2 && ensemble is not null)
                    .ToDictionary(f => f, f => f == chosen ? model : ModelOf(f))
            : null;
        int mixerModels = chosen is ExperimentFamily.Mixer or ExperimentFamily.Ensemble ? finals[ExperimentFamily.Mixer].Length : 0;
        return new MixerExperimentResult(model, chosen, trials, metricName, refitted, cancelled, validation, mixerModels)
        {
            FamilyModels = familyModels,
            EnsembleTreeModels = familyModels is not null && finals.TryGetValue(ExperimentFamily.LightGbm, out var bag) ? bag : null,
            MixerFoldModels = mixerFolds,
        };
    }

    /// <summary>Mixer weights the ensemble may take; the trees get the rest. The ends are left out: they are the members alone.</summary>
    internal static readonly double[] EnsembleWeights = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

    /// <summary>
    /// The mixer weight whose weighted average scores best on the pooled out-of-fold rows, and that score; ties go to the
    /// weight nearest an equal average. A plain average drags the ensemble below its better member where the other is
    /// clearly worse (benchmarks/results/AccuracyExperiment.md).
    /// </summary>
    internal static (double MixerWeight, double Metric) EnsembleWeight(MixerTask task, float[][] mixerPredictions, float[][] treePredictions, float[] labels)
    {
        var scored = EnsembleWeights.Select(w => (Weight: w, Metric: OutOfFoldMetric.Compute(task, OutOfFoldMetric.Average([w, 1 - w], mixerPredictions, treePredictions), labels)))
                                    .Where(c => !double.IsNaN(c.Metric)).ToList();
        if (scored.Count == 0)
            return (0.5, double.NaN);
        double best = scored.Max(c => c.Metric);
        return scored.Where(c => c.Metric >= best - 1e-12).OrderBy(c => Math.Abs(c.Weight - 0.5)).ThenBy(c => c.Weight).First();
    }

    /// <summary>The ensemble of one mixer and one tree model.</summary>
    internal TransformerChain<ITransformer> Compose(ITransformer mixerModel, ITransformer treesModel, IDataView data, double mixerWeight = 0.5)
        => Compose([mixerModel], [treesModel], data, mixerWeight);

    /// <summary>
    /// each mixer -> copy its prediction aside -> each tree model -> copy its prediction aside -> weighted average (the
    /// mixers share <paramref name="mixerWeight"/> equally or by <paramref name="mixerShares"/>, the trees the rest):
    /// each member keeps its own steps, so the chain saves, loads and scores as any ML.NET pipeline. Without trees it is
    /// the mixers' average.
    /// </summary>
    internal TransformerChain<ITransformer> Compose(IReadOnlyList<ITransformer> mixerModels, IReadOnlyList<ITransformer> treeModels, IDataView data, double mixerWeight = 0.5,
                                                    IReadOnlyList<double>? mixerShares = null)
    {
        host.Check(mixerModels.Count > 0, "The average needs at least one mixer model.");
        host.Check(mixerShares is null || mixerShares.Count == mixerModels.Count && Math.Abs(mixerShares.Sum() - 1) < 1e-9, "The mixers' shares must be one per mixer, summing to 1.");
        var label = CheckLabel(data.Schema);
        int classCount = task switch
        {
            MixerTask.MulticlassClassification => (int)label.Type.GetKeyCount(),
            MixerTask.BinaryClassification => 2,
            _ => 1,
        };
        var labelKeyValues = label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues) is null ? null : label.Annotations;
        string member = task == MixerTask.BinaryClassification ? "Probability" : "Score";
        var steps = new List<ITransformer>();
        var columns = new List<string>();
        var weights = new List<double>();
        var scored = data;
        void Add(ITransformer model, string column, double weight)
        {
            var memberScored = model.Transform(scored);
            var copy = ml.Transforms.CopyColumns(column, member).Fit(memberScored);
            scored = copy.Transform(memberScored);
            steps.Add(model);
            steps.Add(copy);
            columns.Add(column);
            weights.Add(weight);
        }
        // The first of each keeps the name older ensemble zips used.
        for (int i = 0; i < mixerModels.Count; i++)
            Add(mixerModels[i], i == 0 ? EnsembleMixerColumn : $"{EnsembleMixerColumn}{i + 1}", (treeModels.Count == 0 ? 1 : mixerWeight) * (mixerShares?[i] ?? 1.0 / mixerModels.Count));
        for (int i = 0; i < treeModels.Count; i++)
            Add(treeModels[i], i == 0 ? EnsembleTreesColumn : $"{EnsembleTreesColumn}{i + 1}", (1 - mixerWeight) / treeModels.Count);
        steps.Add(new AveragedPredictionTransformer(host, task, columns, classCount, labelKeyValues, weights));
        return new TransformerChain<ITransformer>([.. steps]);
    }

    /// <summary>The encoder's options: the user's (or the defaults) over the features, into a column the data does not have.</summary>
    private void PrepareEncoding(DataViewSchema schema, string[] features)
    {
        options.Encoding ??= new CharacterEncodingOptions();
        if (options.Encoding.InputColumnNames.Length == 0)
            options.Encoding.InputColumnNames = features;
        options.Encoding.OutputColumnName = schema.GetColumnOrNull("Features") is null ? "Features" : "__MixerFeatures";
    }

    /// <summary>Tests: one family fitted with its trainer's defaults on <paramref name="train"/>, as a first trial fits it.</summary>
    internal ITransformer FitDefaults(ExperimentFamily family, IDataView train)
    {
        CheckLabel(train.Schema);
        var features = ResolveFeatures(train.Schema);
        PrepareEncoding(train.Schema, features);
        var space = family == ExperimentFamily.Mixer ? SearchSpace.Mixer(DefaultMixerOptions().Epochs) : SearchSpace.LightGbm();
        var featurizer = family == ExperimentFamily.LightGbm ? TreeFeaturizer.Create(ml, train, features) : null;
        return Fit(family, space, space.Defaults, train, featurizer, TimeSpan.FromMinutes(10), CancellationToken.None);
    }

    private ITransformer Fit(ExperimentFamily family, SearchSpace space, int[] position, IDataView train, IEstimator<ITransformer>? treeFeaturizer,
                             TimeSpan cap, CancellationToken token)
        => family == ExperimentFamily.Mixer ? FitMixer(space, position, train, cap, token) : FitTrees(space, position, train, treeFeaturizer!);

    private ITransformer FitMixer(SearchSpace space, int[] position, IDataView train, TimeSpan cap, CancellationToken token)
    {
        var encoding = options.Encoding!;
        var encoder = ml.Transforms.EncodeAsCharacters(encoding).Fit(train);
        var o = DefaultMixerOptions();
        o.LabelColumnName = options.LabelColumnName;
        o.FeatureColumnName = encoding.OutputColumnName;
        o.Width = (int)space.Value(position, "Width")!.Value;
        o.Depth = (int)space.Value(position, "Depth")!.Value;
        o.Epochs = (int)space.Value(position, "Epochs")!.Value;
        o.Dropout = space.Value(position, "Dropout");
        o.LearningRate = space.Value(position, "LearningRate")!.Value;
        o.Device = options.Device;
        o.Precision = options.Precision;
        o.NumberOfThreads = options.NumberOfThreads;
        o.Seed = seed;
        o.MaxTrainingTime = cap;
        o.CancellationToken = token;
        options.AdjustMixer?.Invoke(o);
        var encoded = encoder.Transform(train);
        ITransformer predictor = o switch
        {
            MixerBinaryTrainer.Options binary => ml.BinaryClassification.Trainers.Mixer(binary).Fit(encoded),
            MixerMulticlassTrainer.Options multiclass => ml.MulticlassClassification.Trainers.Mixer(multiclass).Fit(encoded),
            _ => ml.Regression.Trainers.Mixer((MixerRegressionTrainer.Options)o).Fit(encoded),
        };
        return new TransformerChain<ITransformer>(encoder, predictor);
    }

    private ITransformer FitTrees(SearchSpace space, int[] position, IDataView train, IEstimator<ITransformer> featurizer)
    {
        int? leaves = (int?)space.Value(position, "Leaves");
        double? rate = space.Value(position, "LearningRate");
        int iterations = (int)(space.Value(position, "Iterations") ?? 100);
        int? minRows = (int?)space.Value(position, "MinRowsPerLeaf");
        string features = TreeFeaturizer.FeatureColumnName;
        IEstimator<ITransformer> trainer = task switch
        {
            MixerTask.BinaryClassification => ml.BinaryClassification.Trainers.LightGbm(new LightGbmBinaryTrainer.Options
            {
                LabelColumnName = options.LabelColumnName, FeatureColumnName = features, NumberOfLeaves = leaves, LearningRate = rate,
                NumberOfIterations = iterations, MinimumExampleCountPerLeaf = minRows, Seed = seed, Silent = true, NumberOfThreads = options.NumberOfThreads,
            }),
            MixerTask.MulticlassClassification => ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options
            {
                LabelColumnName = options.LabelColumnName, FeatureColumnName = features, NumberOfLeaves = leaves, LearningRate = rate,
                NumberOfIterations = iterations, MinimumExampleCountPerLeaf = minRows, Seed = seed, Silent = true, NumberOfThreads = options.NumberOfThreads,
            }),
            _ => ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options
            {
                LabelColumnName = options.LabelColumnName, FeatureColumnName = features, NumberOfLeaves = leaves, LearningRate = rate,
                NumberOfIterations = iterations, MinimumExampleCountPerLeaf = minRows, Seed = seed, Silent = true, NumberOfThreads = options.NumberOfThreads,
            }),
        };
        return featurizer.Append(trainer).Fit(train);
    }

    private MixerTrainerOptions DefaultMixerOptions() => task switch
    {
        MixerTask.BinaryClassification => new MixerBinaryTrainer.Options(),
        MixerTask.MulticlassClassification => new MixerMulticlassTrainer.Options(),
        _ => new MixerRegressionTrainer.Options(),
    };

    private DataViewSchema.Column CheckLabel(DataViewSchema schema)
    {
        var label = schema.GetColumnOrNull(options.LabelColumnName)
            ?? throw host.ExceptSchemaMismatch(nameof(schema), "label", options.LabelColumnName);
        bool ok = task switch
        {
            MixerTask.BinaryClassification => label.Type is BooleanDataViewType,
            MixerTask.MulticlassClassification => label.Type is KeyDataViewType { Count: > 0 } key && key.RawType == typeof(uint),
            _ => label.Type == NumberDataViewType.Single,
        };
        if (!ok)
        {
            string expected = task switch
            {
                MixerTask.BinaryClassification => "Boolean",
                MixerTask.MulticlassClassification => "a UInt32 key (MapValueToKey)",
                _ => "Single",
            };
            throw host.ExceptSchemaMismatch(nameof(schema), "label", options.LabelColumnName, expected, label.Type.ToString());
        }
        return label;
    }

    private string[] ResolveFeatures(DataViewSchema schema)
    {
        var names = options.FeatureColumnNames.Length > 0
            ? options.FeatureColumnNames
            : schema.Where(c => !c.IsHidden && c.Name != options.LabelColumnName).Select(c => c.Name).ToArray();
        foreach (string name in names)
        {
            if (schema.GetColumnOrNull(name) is null)
                throw host.ExceptSchemaMismatch(nameof(schema), "feature", name);
            if (name == options.LabelColumnName)
                throw host.ExceptUserArg(nameof(options.FeatureColumnNames), $"Column '{name}' is the label; it cannot also be a feature.");
        }
        return names.Length > 0 ? names : throw host.ExceptUserArg(nameof(options.FeatureColumnNames), "No feature column: every column is the label.");
    }

    /// <summary>0/1, the 0-based class, or the target, per row.</summary>
    private float[] ReadLabels(IDataView view, string column) => task switch
    {
        MixerTask.BinaryClassification => view.GetColumn<bool>(column).Select(b => b ? 1f : 0f).ToArray(),
        MixerTask.MulticlassClassification => view.GetColumn<uint>(column).Select(k => (float)k - 1).ToArray(),
        _ => view.GetColumn<float>(column).ToArray(),
    };

    /// <summary>Per row: the positive-class probability, the class probabilities, or the score.</summary>
    private IEnumerable<float[]> ReadPredictions(IDataView scored) => task switch
    {
        MixerTask.BinaryClassification => scored.GetColumn<float>("Probability").Select(p => new[] { p }),
        MixerTask.MulticlassClassification => scored.GetColumn<VBuffer<float>>("Score").Select(s => s.DenseValues().ToArray()),
        _ => scored.GetColumn<float>("Score").Select(s => new[] { s }),
    };

    private static void Dispose(IEnumerable<ITransformer> models)
    {
        foreach (var model in models)
            (model as IDisposable)?.Dispose();
    }

    private static string FirstLine(string message)
    {
        int newline = message.IndexOf('\n');
        return (newline < 0 ? message : message[..newline]).Trim();
    }

    /// <summary>
    /// A family's search: its grid, its best few trials so far (their out-of-fold predictions and first-fold models kept)
    /// and its time.
    /// </summary>
    private sealed class FamilyState(ExperimentFamily family, SearchSpace space, bool enabled, int leadersKept)
    {
        private readonly List<(int[] Position, double Seconds)> finished = [];
        private readonly List<Leader> leaders = [];
        private readonly List<(double Metric, float[][] Predictions)> scored = [];
        private int failuresInARow;

        /// <summary>A finished trial among the family's best.</summary>
        public sealed record Leader(ExperimentTrial Trial, int[] Position, float[][] Predictions, ITransformer[] FoldModels);

        public ExperimentFamily Family { get; } = family;

        public SearchSpace Space { get; } = space;

        public bool Enabled { get; private set; } = enabled;

        public int Trials { get; private set; }

        public double SecondsSpent { get; private set; }

        /// <summary>The best trials so far, best first (earlier trials first among equals).</summary>
        public IReadOnlyList<Leader> Leaders => leaders;

        public Leader? Best => leaders.Count > 0 ? leaders[0] : null;

        /// <summary>
        /// The out-of-fold predictions of the family's best distinct trials (at most <see cref="MaxScored"/>, best first):
        /// the pool each fold's nested choice draws from.
        /// </summary>
        public IReadOnlyList<float[][]> Scored => scored.Select(s => s.Predictions).ToList();

        public int[]? BestPosition => Best?.Position;

        /// <summary>What refitting the leaders would cost, in trial seconds.</summary>
        public double LeaderSeconds => leaders.Sum(l => l.Trial.Seconds);

        public void Record(ExperimentTrial trial, int[] position, float[][]? predictions, ITransformer[] foldModels)
        {
            Trials++;
            SecondsSpent += trial.Seconds;
            if (predictions is null)
            {
                Dispose(foldModels);
                if (++failuresInARow >= MaxFailuresInARow || Best is null && Trials == 1 && Family == ExperimentFamily.Mixer)
                    Enabled = false;
                return;
            }
            failuresInARow = 0;
            finished.Add((position, trial.Seconds));
            // Settings that do not bind (leaves under a minimum-rows limit on a small table) give the same model again: a
            // duplicate would only reweight the averages. The leaders are the top of the scored trials, so one check serves both.
            if (scored.Any(s => SamePredictions(s.Predictions, predictions)))
            {
                Dispose(foldModels);
                return;
            }
            int rank = scored.FindIndex(s => trial.Metric > s.Metric);
            scored.Insert(rank < 0 ? scored.Count : rank, (trial.Metric, predictions));
            if (scored.Count > Math.Max(MaxScored, leadersKept))
                scored.RemoveAt(scored.Count - 1);
            int at = leaders.FindIndex(l => trial.Metric > l.Trial.Metric);
            leaders.Insert(at < 0 ? leaders.Count : at, new Leader(trial, position, predictions, foldModels));
            if (leaders.Count > leadersKept)
            {
                Dispose(leaders[^1].FoldModels);
                leaders.RemoveAt(leaders.Count - 1);
            }
        }

        private static bool SamePredictions(float[][] a, float[][] b)
        {
            for (int r = 0; r < a.Length; r++)
                for (int k = 0; k < a[r].Length; k++)
                    if (Math.Abs(a[r][k] - b[r][k]) > 1e-6f)
                        return false;
            return true;
        }

        /// <summary>
        /// Seconds a trial at <paramref name="position"/> should take, scaled from the finished ones: the mixer's cost
        /// grows with epochs x depth x width^1.5 (channel MLP and token mixing), LightGBM's with its iterations.
        /// </summary>
        public double? Estimate(int[] position)
        {
            if (finished.Count == 0)
                return null;
            return finished.Average(f => f.Seconds / Cost(f.Position)) * Cost(position);
        }

        private double Cost(int[] position) => Family == ExperimentFamily.Mixer
            ? Space.Value(position, "Epochs")!.Value * Space.Value(position, "Depth")!.Value * Math.Pow(Space.Value(position, "Width")!.Value, 1.5)
            : Space.Value(position, "Iterations") ?? 100;
    }
}
