using System.Runtime.CompilerServices;

namespace MLNetMixers.Encoding;

/// <summary>
/// The reserved tokens then the learned characters in ordinal order: token id = <see cref="ReservedTokens.Count"/>
/// + the character's rank. Characters it does not hold map to <see cref="ReservedTokens.Unknown"/>. When number fields
/// carry value tokens, their <see cref="NumberValueTokens.Count"/> ids follow the characters.
/// </summary>
internal sealed class CharacterVocabulary
{
    private const int DirectRange = 256;
    private readonly int[] direct = new int[DirectRange];
    private readonly Dictionary<char, int> other = new();

    public CharacterVocabulary(IEnumerable<char> characters, bool valueTokens = false)
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
        ValueTokenStart = valueTokens ? ReservedTokens.Count + Characters.Length : -1;
    }

    /// <summary>The learned characters, sorted by ordinal.</summary>
    public string Characters { get; }

    /// <summary>The id of the first value token, or -1 when the vocabulary has none.</summary>
    public int ValueTokenStart { get; }

    /// <summary>Reserved tokens, learned characters and value tokens.</summary>
    public int Size => ReservedTokens.Count + Characters.Length + (ValueTokenStart < 0 ? 0 : NumberValueTokens.Count);

    /// <summary>The token id of a value level (see <see cref="NumberValueTokens.Level"/>).</summary>
    public int ValueToken(int level) => ValueTokenStart + level;

    private bool IsCharacter(int tokenId) => tokenId >= ReservedTokens.Count && tokenId < ReservedTokens.Count + Characters.Length;

    private bool IsValueToken(int tokenId) => ValueTokenStart >= 0 && tokenId >= ValueTokenStart && tokenId < Size;

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
        _ => throw OutOfRange(tokenId),
    };

    /// <summary>One readable character per token, for the encoded-text column.</summary>
    public char DisplayCharacter(int tokenId) => tokenId switch
    {
        ReservedTokens.Padding => '·',
        ReservedTokens.Separator => '|',
        ReservedTokens.Missing => '∅',
        ReservedTokens.Unknown => '\uFFFD',
        _ when IsCharacter(tokenId) => Characters[tokenId - ReservedTokens.Count],
        _ when IsValueToken(tokenId) => NumberValueTokens.DisplayCharacter(tokenId - ValueTokenStart),
        _ => throw OutOfRange(tokenId),
    };
}
