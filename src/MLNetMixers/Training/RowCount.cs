using Microsoft.ML;

namespace MLNetMixers.Training;

/// <summary>The number of rows in a data view.</summary>
internal static class RowCount
{
    /// <summary>
    /// The view's own count where it knows it, else counted with a cursor over no columns: ML.NET's filtering and
    /// encoded views, e.g. a train/test split's, do not know their row count.
    /// </summary>
    public static long Of(IDataView data)
    {
        if (data.GetRowCount() is { } known)
            return known;
        long count = 0;
        using var cursor = data.GetRowCursor([]);
        while (cursor.MoveNext())
            count++;
        return count;
    }
}
