using CsCheck;
using Microsoft.ML;
using MLNetMixers.Encoding;

namespace MLNetMixers.Tests.Encoding;

/// <summary>Invariants of the fitted layout, checked on generated columns (CsCheck shrinks any failure).</summary>
public class EncodingPropertyTests
{
    private const int Iterations = 200;

    private sealed class NumberRow
    {
        public double X { get; set; }
    }

    private sealed class LongRow
    {
        public long X { get; set; }
    }

    private sealed class TextRow
    {
        public string? S { get; set; }
    }

    private sealed class MixedRow
    {
        public double X { get; set; }
        public string? S { get; set; }
        public bool B { get; set; }
    }

    private static CharacterEncodingTransformer FitNumbers(MLContext ml, IEnumerable<double> values, int maxDecimals = 4, bool distinguishNaN = false)
    {
        var data = ml.Data.LoadFromEnumerable(values.Select(v => new NumberRow { X = v }).ToList());
        // The digit layout alone: no decile, and no decimals given up for the column's range (RangeDigitsTests covers that).
        return ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["X"], MaxDecimals = maxDecimals, DistinguishNaN = distinguishNaN, NumberDeciles = false, NumberValueTokens = false, MaxRangeDigits = null }).Fit(data);
    }

    private static int[] EncodeOne(MLContext ml, CharacterEncodingTransformer transformer, double value)
        => EncodingTestHelpers.EncodeRows(transformer, ml.Data.LoadFromEnumerable(new[] { new NumberRow { X = value } }))[0];

    /// <summary>Exact decimals m / 10^k: no binary midpoints, so the expected digits are plain integer arithmetic.</summary>
    private static readonly Gen<(int Decimals, long[] Mantissas)> ExactColumns =
        Gen.Int[0, 3].SelectMany(k => Gen.Long[-2_000_000, 2_000_000].Array[1, 25].Select(m => (k, m)));

    [Fact]
    public void EveryRowHasTheSameLengthAndEveryFieldItsWidth()
    {
        var gen = Gen.Select(ExactColumns, Gen.String[Gen.Char["abcXYZ -"], 0, 30].Array[1, 25], Gen.Bool.Array[1, 25]);
        gen.Sample((numbers, texts, flags) =>
        {
            var ml = new MLContext(seed: 1);
            int n = Math.Min(numbers.Mantissas.Length, Math.Min(texts.Length, flags.Length));
            var rows = Enumerable.Range(0, n)
                .Select(i => new MixedRow { X = numbers.Mantissas[i] / Math.Pow(10, numbers.Decimals), S = texts[i], B = flags[i] }).ToList();
            var data = ml.Data.LoadFromEnumerable(rows);
            var transformer = Characters(ml, "X", "S", "B").Fit(data);

            var encoded = EncodingTestHelpers.EncodeRows(transformer, data);
            Assert.All(encoded, r => Assert.Equal(transformer.SequenceLength, r.Length));
            Assert.Equal(transformer.SequenceLength, transformer.Fields.Sum(f => f.Width));
            Assert.Equal(Math.Max(1, Math.Min(16, texts.Take(n).Max(t => t.Length))), transformer.Fields.Single(f => f.Name == "S").Width);
            // Every position belongs to exactly one field, in order.
            int position = 0;
            foreach (var field in transformer.Fields)
            {
                Assert.Equal(position, field.Start);
                position += field.Width;
            }
            // The public column agrees with the row encoder (key = id + 1).
            var keys = EncodingTestHelpers.ReadKeys(transformer.Transform(data));
            for (int i = 0; i < n; i++)
                Assert.Equal(encoded[i].Select(t => (uint)(t + 1)), keys[i]);
        }, iter: Iterations, threads: 1);
    }

    [Fact]
    public void APositionHoldsTheSamePlaceValueInEveryRow()
    {
        ExactColumns.Sample(column =>
        {
            var ml = new MLContext(seed: 1);
            double scale = Math.Pow(10, column.Decimals);
            var transformer = FitNumbers(ml, column.Mantissas.Select(m => m / scale));
            var data = ml.Data.LoadFromEnumerable(column.Mantissas.Select(m => new NumberRow { X = m / scale }).ToList());
            var encoded = EncodingTestHelpers.EncodeRows(transformer, data);

            var field = transformer.Fields.Single();
            bool signed = column.Mantissas.Any(m => m < 0);
            int sign = signed ? 1 : 0;
            // Learned decimals: the fewest that write every value exactly.
            int decimals = Enumerable.Range(0, column.Decimals + 1).First(d => column.Mantissas.All(m => m % (long)Math.Pow(10, column.Decimals - d) == 0));
            int integerDigits = field.Width - sign - (decimals > 0 ? decimals + 1 : 0);
            Assert.Equal(Math.Max(1, column.Mantissas.Max(m => (Math.Abs(m) / (long)scale).ToString().Length)), integerDigits);

            for (int r = 0; r < encoded.Length; r++)
            {
                long scaled = Math.Abs(column.Mantissas[r]) / (long)Math.Pow(10, column.Decimals - decimals);
                string text = EncodingTestHelpers.FieldText(transformer, encoded[r], "X");
                if (signed)
                    Assert.Equal(column.Mantissas[r] < 0 ? '-' : '+', text[0]);
                // Place value 10^j (j from -decimals to integerDigits-1) sits at a fixed position.
                for (int j = -decimals; j < integerDigits; j++)
                {
                    int position = j >= 0 ? sign + (integerDigits - 1 - j) : sign + integerDigits + (-j);
                    long digit = scaled / (long)Math.Pow(10, j + decimals) % 10;
                    Assert.Equal((char)('0' + digit), text[position]);
                }
                if (decimals > 0)
                    Assert.Equal('.', text[sign + integerDigits]);
            }
        }, iter: Iterations, threads: 1);
    }

    [Fact]
    public void NumbersDecodeBackWithinTheDeclaredPrecision()
    {
        var gen = Gen.Select(Gen.Double[-1e5, 1e5].Array[1, 25], Gen.Int[0, 6]);
        gen.Sample((values, maxDecimals) =>
        {
            var ml = new MLContext(seed: 1);
            var transformer = FitNumbers(ml, values, maxDecimals);
            var encoded = EncodingTestHelpers.EncodeRows(transformer, ml.Data.LoadFromEnumerable(values.Select(v => new NumberRow { X = v }).ToList()));
            double precision = transformer.NumberPrecision(0);
            // The declared precision is half a unit of at most MaxDecimals decimals.
            Assert.True(precision >= 0.5 * Math.Pow(10, -maxDecimals) * (1 - 1e-12), $"precision {precision} finer than {maxDecimals} decimals");
            for (int i = 0; i < values.Length; i++)
            {
                var decoded = transformer.DecodeNumber(0, encoded[i]);
                Assert.Equal(DecodedNumberKind.Value, decoded.Kind);
                // Rounded, never cut: within half a unit of the last decimal (plus double noise).
                Assert.InRange(Math.Abs(decoded.Value - values[i]), 0, precision * (1 + 1e-9) + 1e-9 * Math.Abs(values[i]));
            }
            // Beyond the fitted range the value saturates to an explicit marker, never a number missing its leading digits.
            double max = values.Max(Math.Abs);
            var above = transformer.DecodeNumber(0, EncodeOne(ml, transformer, max * 10 + 10));
            Assert.Equal(DecodedNumberKind.AboveRange, above.Kind);
            var below = transformer.DecodeNumber(0, EncodeOne(ml, transformer, -(max * 10 + 10)));
            Assert.Equal(DecodedNumberKind.BelowRange, below.Kind);
        }, iter: Iterations, threads: 1);
    }

    [Fact]
    public void IntegerColumnsKeepEveryDigit()
    {
        Gen.Long.Array[1, 25].Sample(values =>
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(values.Select(v => new LongRow { X = v }).ToList());
            var transformer = ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = ["X"], NumberDeciles = false, NumberValueTokens = false }).Fit(data);
            var encoded = EncodingTestHelpers.EncodeRows(transformer, data);
            for (int i = 0; i < values.Length; i++)
            {
                string text = EncodingTestHelpers.FieldText(transformer, encoded[i], "X");
                string expected = values[i] == long.MinValue ? "9223372036854775808" : Math.Abs(values[i]).ToString();
                if (text.Contains('#'))
                {
                    // Only magnitudes beyond 19 digits can overflow; long.MinValue/MaxValue have 19.
                    Assert.Fail($"{values[i]} overflowed to {text}");
                }
                Assert.EndsWith(expected, text);
                Assert.Equal(values[i] < 0 ? -1 : 1, text[0] == '-' ? -1 : 1);
            }
        }, iter: Iterations, threads: 1);
    }

    [Fact]
    public void MissingNaNInfinitiesEmptyAndZeroAreAllDistinct()
    {
        var gen = Gen.Double[-1e4, 1e4].Array[1, 20];
        gen.Sample(values =>
        {
            var ml = new MLContext(seed: 1);
            foreach (bool distinguishNaN in new[] { false, true })
            {
                var transformer = FitNumbers(ml, values, distinguishNaN: distinguishNaN);
                var special = new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.0 }
                    .Select(v => string.Join(",", EncodeOne(ml, transformer, v))).ToList();
                var ordinary = values.Select(v => string.Join(",", EncodeOne(ml, transformer, v))).ToHashSet();
                Assert.Equal(special.Count, special.Distinct().Count());
                // The markers never collide with an in-range value (zero is itself an ordinary value).
                Assert.DoesNotContain(special.Take(3), ordinary.Contains);
                var nan = EncodeOne(ml, transformer, double.NaN);
                if (distinguishNaN)
                    Assert.All(nan, t => Assert.Equal("?", transformer.TokenText(t)));
                else
                    Assert.All(nan, t => Assert.Equal(ReservedTokens.Missing, t));
            }

            // Text: null is missing, "" is all padding, and both differ from "0" and from any value.
            var texts = new TextRow[] { new() { S = null }, new() { S = "" }, new() { S = "0" }, new() { S = "00" } };
            var textData = ml.Data.LoadFromEnumerable(texts);
            var textTransformer = Characters(ml, "S").Fit(textData);
            var rows = EncodingTestHelpers.EncodeRows(textTransformer, textData).Select(r => string.Join(",", r)).ToList();
            Assert.Equal(rows.Count, rows.Distinct().Count());
            Assert.All(EncodingTestHelpers.EncodeRows(textTransformer, textData)[0], t => Assert.Equal(ReservedTokens.Missing, t));
            Assert.All(EncodingTestHelpers.EncodeRows(textTransformer, textData)[1], t => Assert.Equal(ReservedTokens.Padding, t));
        }, iter: 20, threads: 1);
    }

    [Fact]
    public void UnseenCharactersMapToUnknownNeverThrow()
    {
        var gen = Gen.Select(Gen.String[Gen.Char["abcdef"], 1, 12].Array[1, 10], Gen.String[Gen.Char["abcdefxyzé€\u4e2d"], 0, 20].Array[1, 10]);
        gen.Sample((fitted, later) =>
        {
            var ml = new MLContext(seed: 1);
            var transformer = Characters(ml, "S")
                .Fit(ml.Data.LoadFromEnumerable(fitted.Select(s => new TextRow { S = s }).ToList()));
            var seen = fitted.SelectMany(s => s).ToHashSet();
            int width = transformer.Fields.Single().Width;
            var encoded = EncodingTestHelpers.EncodeRows(transformer, ml.Data.LoadFromEnumerable(later.Select(s => new TextRow { S = s }).ToList()));
            for (int r = 0; r < later.Length; r++)
            {
                for (int i = 0; i < width; i++)
                {
                    int expected = i >= later[r].Length ? ReservedTokens.Padding
                        : seen.Contains(later[r][i]) ? transformer.TokenOf(later[r][i])
                        : ReservedTokens.Unknown;
                    Assert.Equal(expected, encoded[r][i]);
                }
            }
        }, iter: Iterations, threads: 1);
    }

    /// <summary>Text as characters (MaxCategories = 0): these properties are the character layout's; CategoryTokenTests covers categories.</summary>
    private static CharacterEncodingEstimator Characters(MLContext ml, params string[] columns)
        => ml.Transforms.EncodeAsCharacters(new CharacterEncodingOptions { InputColumnNames = columns, MaxCategories = 0 });
}
