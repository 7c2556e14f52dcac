using System.Runtime.CompilerServices;

namespace MLNetMixers.Encoding;

/// <summary>
/// The reserved tokens then the learned characters in ordinal order: token id = <see cref="ReservedTokens.Count"/>
/// + the character's rank. Characters it does not hold map to <see cref="ReservedTokens.Unknown"/>. Each category field's
/// values (<see cref="CategoryLayout"/>) follow, one id each, in field order; when number fields carry value tokens,
/// their <see cref="NumberValueTokens.Count"/> ids come last.
/// </summary>
internal sealed class CharacterVocabulary
{
    private const int DirectRange = 256;
    private readonly int[] direct = new int[DirectRange];
    private readonly Dictionary<char, int> other = new();

    public CharacterVocabulary(IEnumerable<char> characters, bool valueTokens = false, IReadOnlyList<CategoryLayout>? categoryFields = null)
    {
        Characters = new string(characters.Distinct().OrderBy(c => c).ToArray());
        Array.Fill(direct, ReservedTokens.Unknown);
        for (int i = 0; i < Characters.Length; i++)
        {
            char c = Characters[i];
            if (c < DirectRange)
                direct[c] = ReservedTokens.Count + i;
            else
                other[c] = ReservedTokens.Count + i;
        }
        int next = ReservedTokens.Count + Characters.Length;
        CategoryTokenStart = next;
        foreach (var field in categoryFields ?? [])
        {
            categoryStarts.Add(field.Field.Name, next);
            foreach (var value in field.Categories)
                categoryTexts.Add((field.Field.Name, value));
            next += field.Categories.Length;
        }
        // Value tokens stay the last ids: the models clamp every id above the first value token onto it (TabularModel.Embed).
        ValueTokenStart = valueTokens ? next : -1;
    }

    /// <summary>The vocabulary of fitted layouts: every category field's values in field order, then value tokens when a number field has them.</summary>
    public static CharacterVocabulary For(IEnumerable<char> characters, IReadOnlyList<FieldLayout> layouts)
        => new(characters, layouts.Any(l => l is ValuedNumberLayout), layouts.OfType<CategoryLayout>().ToArray());

    private readonly Dictionary<string, int> categoryStarts = new();
    private readonly List<(string Field, string Value)> categoryTexts = new();

    /// <summary>The id of the first category token (where value tokens start when there are none).</summary>
    public int CategoryTokenStart { get; }

    /// <summary>The token id of the category field's first value; its value k has this id + k.</summary>
    public int CategoryStart(string fieldName) => categoryStarts.TryGetValue(fieldName, out int start) ? start
        : throw new InvalidOperationException($"Field '{fieldName}' has no category tokens in this vocabulary.");

    private bool IsCategoryToken(int tokenId) => tokenId >= CategoryTokenStart && tokenId < CategoryTokenStart + categoryTexts.Count;

    /// <summary>The learned characters, sorted by ordinal.</summary>
    public string Characters { get; }

    /// <summary>The id of the first value token, or -1 when the vocabulary has none.</summary>
    public int ValueTokenStart { get; }

    /// <summary>Reserved tokens, learned characters, category tokens and value tokens.</summary>
    public int Size => CategoryTokenStart + categoryTexts.Count + (ValueTokenStart < 0 ? 0 : NumberValueTokens.Count);

    /// <summary>The token id of a value level (see <see cref="NumberValueTokens.Level"/>).</summary>
    public int ValueToken(int level) => ValueTokenStart + level;

    private bool IsCharacter(int tokenId) => tokenId >= ReservedTokens.Count && tokenId < ReservedTokens.Count + Characters.Length;

    private bool IsValueToken(int tokenId) => ValueTokenStart >= 0 && tokenId >= ValueTokenStart && tokenId < ValueTokenStart + NumberValueTokens.Count;

    private ArgumentOutOfRangeException OutOfRange(int tokenId) => new(nameof(tokenId), tokenId, $"Token ids run from 0 to {Size - 1}.");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TokenOf(char c) => c < DirectRange ? direct[c] : other.GetValueOrDefault(c, ReservedTokens.Unknown);

    /// <summary>The character of a learned token, or null for a reserved one.</summary>
    public char? CharacterOf(int tokenId)
        => IsCharacter(tokenId) ? Characters[tokenId - ReservedTokens.Count] : null;

    /// <summary>Key-value text of a token: <c>&lt;pad&gt;</c>, <c>&lt;sep&gt;</c>, <c>&lt;missing&gt;</c>, <c>&lt;unk&gt;</c>, or the character.</summary>
    public string TokenText(int tokenId) => tokenId switch
    {
        ReservedTokens.Padding => "<pad>",
        ReservedTokens.Separator => "<sep>",
        ReservedTokens.Missing => "<missing>",
        ReservedTokens.Unknown => "<unk>",
        _ when IsCharacter(tokenId) => Characters[tokenId - ReservedTokens.Count].ToString(),
        _ when IsValueToken(tokenId) => NumberValueTokens.Text(tokenId - ValueTokenStart),
        _ when IsCategoryToken(tokenId) => CategoryTokenText(categoryTexts[tokenId - CategoryTokenStart]),
        _ => throw OutOfRange(tokenId),
    };

    /// <summary>Key-value text of a category token: <c>Field=value</c>.</summary>
    private static string CategoryTokenText((string Field, string Value) category) => $"{category.Field}={category.Value}";

    /// <summary>One readable character per token, for the encoded-text column.</summary>
    public char DisplayCharacter(int tokenId) => tokenId switch
    {
        ReservedTokens.Padding => '·',
        ReservedTokens.Separator => '|',
        ReservedTokens.Missing => '∅',
        ReservedTokens.Unknown => '\uFFFD',
        _ when IsCharacter(tokenId) => Characters[tokenId - ReservedTokens.Count],
        _ when IsValueToken(tokenId) => NumberValueTokens.DisplayCharacter(tokenId - ValueTokenStart),
        // A category shows as its value's first character, '·' for the empty string.
        _ when IsCategoryToken(tokenId) => categoryTexts[tokenId - CategoryTokenStart].Value is { Length: > 0 } value ? value[0] : '·',
        _ => throw OutOfRange(tokenId),
    };
}
