using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetMixers;

namespace Microsoft.ML;

/// <summary>Entry points of MLNetMixers: extension methods on the ML.NET catalogs.</summary>
public static partial class MixerCatalog
{
    /// <summary>
    /// Encodes each row as one fixed-length sequence of character tokens, the input of the mixer trainers: every
    /// field (a column, or a slot of a vector column) gets a fixed number of characters learned from the data, with
    /// numbers in a per-column fixed-point format that keeps magnitude and aligns place values.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">
    /// The output column: a known-size vector of <c>Key&lt;UInt32&gt;</c> (token id + 1) with slot names and key values.
    /// </param>
    /// <param name="inputColumnNames">
    /// Columns to encode, in this order: Single, Double, signed or unsigned integers, Boolean, Text, DateTime,
    /// DateTimeOffset, keys, or known-size vectors of these. None means every column of a supported type except the
    /// output column (so exclude the label with the options overload, or list the columns).
    /// </param>
    /// <returns>The estimator; see <see cref="CharacterEncodingEstimator"/> for the format rules.</returns>
    public static CharacterEncodingEstimator EncodeAsCharacters(this TransformsCatalog catalog, string outputColumnName = "Features", params string[] inputColumnNames)
        => EncodeAsCharacters(catalog, new CharacterEncodingOptions { OutputColumnName = outputColumnName, InputColumnNames = inputColumnNames ?? [] });

    /// <summary>
    /// Encodes each row as one fixed-length sequence of character tokens with every knob of
    /// <see cref="CharacterEncodingOptions"/>: layout (fitted or the paper's), widths and decimals caps, per-column
    /// overrides, separators, missing-text values and a readable text column.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="options">Columns and layout options.</param>
    /// <returns>The estimator; see <see cref="CharacterEncodingEstimator"/> for the format rules.</returns>
    public static CharacterEncodingEstimator EncodeAsCharacters(this TransformsCatalog catalog, CharacterEncodingOptions options)
    {
        Contracts.CheckValue(catalog, nameof(catalog));
        Contracts.CheckValue(options, nameof(options));
        return new CharacterEncodingEstimator(CatalogUtils.GetEnvironment(catalog), options);
    }
}
