using System.Text;

namespace MLNetMixers.Cli.Data;

/// <summary>
/// Reads RFC 4180 records: fields split by one separator character, optionally wrapped in double quotes, with
/// <c>""</c> for a quote inside quotes and line breaks allowed inside quotes. Tracks the line each record starts
/// on, so errors can point at the file line.
/// </summary>
internal sealed class CsvRecordReader(TextReader reader, char separator)
{
    private readonly StringBuilder field = new();
    private long line = 1;

    /// <summary>The 1-based file line the last record returned by <see cref="Read"/> started on.</summary>
    public long RecordLine { get; private set; }

    /// <summary>Whether any record so far had a line break inside a quoted field.</summary>
    public bool SawQuotedNewline { get; private set; }

    /// <summary>The next record's fields, or null at the end of the file. Blank lines are skipped.</summary>
    public List<string>? Read()
    {
        while (true)
        {
            int c = reader.Peek();
            if (c < 0)
                return null;
            if (c is '\r' or '\n')
            {
                ConsumeLineBreak();
                continue;
            }
            break;
        }

        RecordLine = line;
        var fields = new List<string>();
        field.Clear();
        bool quoted = false, fieldWasQuoted = false;
        while (true)
        {
            int c = reader.Read();
            if (c < 0)
            {
                if (quoted)
                    throw new CliException($"line {RecordLine}: a quoted field is not closed before the end of the file.");
                fields.Add(field.ToString());
                return fields;
            }
            char ch = (char)c;
            if (quoted)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"')
                    {
                        reader.Read();
                        field.Append('"');
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    if (ch == '\n' || (ch == '\r' && reader.Peek() != '\n'))
                    {
                        line++;
                        SawQuotedNewline = true;
                    }
                    field.Append(ch);
                }
                continue;
            }
            if (ch == '"' && field.Length == 0 && !fieldWasQuoted)
            {
                quoted = fieldWasQuoted = true;
                continue;
            }
            if (ch == separator)
            {
                fields.Add(field.ToString());
                field.Clear();
                fieldWasQuoted = false;
                continue;
            }
            if (ch is '\r' or '\n')
            {
                if (ch == '\r' && reader.Peek() == '\n')
                    reader.Read();
                line++;
                fields.Add(field.ToString());
                return fields;
            }
            if (fieldWasQuoted)
                throw new CliException($"line {line}: unexpected character '{ch}' after a closing quote in field {fields.Count + 1}.");
            field.Append(ch);
        }
    }

    private void ConsumeLineBreak()
    {
        int c = reader.Read();
        if (c == '\r' && reader.Peek() == '\n')
            reader.Read();
        line++;
    }
}
