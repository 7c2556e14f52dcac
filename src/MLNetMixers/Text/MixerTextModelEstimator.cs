using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers.Text;

namespace MLNetMixers;

/// <summary>
/// What the estimators of the memory models share: one text column in, one column out (checked before fitting, as
/// ML.NET's estimators do) and the column's non-empty documents to train on.
/// </summary>
/// <typeparam name="TTransformer">The transformer <see cref="Fit"/> returns.</typeparam>
public abstract class MixerTextModelEstimator<TTransformer> : IEstimator<TTransformer>
    where TTransformer : class, ITransformer
{
    private readonly string outputColumnName;
    private readonly SchemaShape.Column.VectorKind outputKind;

    private protected MixerTextModelEstimator(IHostEnvironment env, string name, string inputColumnName, string outputColumnName,
                                              SchemaShape.Column.VectorKind outputKind)
    {
        Host = Contracts.CheckRef(env, nameof(env)).Register(name);
        Host.CheckNonEmpty(inputColumnName, nameof(inputColumnName));
        InputColumnName = inputColumnName;
        this.outputColumnName = outputColumnName;
        this.outputKind = outputKind;
    }

    private protected IHost Host { get; }

    /// <summary>The text column, one document per row.</summary>
    private protected string InputColumnName { get; }

    /// <summary>Checks that the input column is scalar text and adds the output column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        return TextColumn.WithOutput(inputSchema, InputColumnName, outputColumnName, outputKind);
    }

    /// <summary>Trains the model on the text column and returns its transformer.</summary>
    public abstract TTransformer Fit(IDataView input);

    /// <summary>The schema checked, the column's documents that hold text; a sentence naming the column when none does.</summary>
    private protected List<string> ReadDocuments(IDataView input)
    {
        Host.CheckValue(input, nameof(input));
        GetOutputSchema(SchemaShape.Create(input.Schema));
        var documents = MixerLanguageModelEstimator.ReadDocuments(input, InputColumnName);
        var text = documents.Where(d => d.Length > 0).ToList();
        return text.Count > 0 ? text
            : throw new ArgumentException($"The text column '{InputColumnName}' holds no text to learn from ({documents.Count} rows, all empty).", nameof(input));
    }
}
