using System.IO.Compression;
using System.Security.Cryptography;
using CsCheck;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetMixers.Tests.Trainers;

namespace MLNetMixers.Tests.Reliability;

/// <summary>A tiny trained pipeline (character encoder + binary mixer) saved once, as the bytes of its model zip.</summary>
public sealed class TinyModelZipFixture
{
    public TinyModelZipFixture()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 40).Select(i => new Row { A = i % 7, B = i % 2 == 0 ? "even" : "odd", Label = i % 2 == 0 }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Transforms.EncodeAsCharacters("Features", nameof(Row.A), nameof(Row.B))
            .Append(ml.BinaryClassification.Trainers.Mixer(SmallNetwork.Configure(new MixerBinaryTrainer.Options(), epochs: 1)))
            .Fit(data);
        using var stream = new MemoryStream();
        ml.Model.Save(model, data.Schema, stream);
        Bytes = stream.ToArray();
    }

    public byte[] Bytes { get; }

    public sealed class Row
    {
        public float A { get; set; }
        public string B { get; set; } = "";
        public bool Label { get; set; }
    }
}

/// <summary>
/// mlContext.Model.Load on zips the library did not write as they are: another format version, another component,
/// random damage. Each fails with one sentence (or loads), in bounded time, and never changes the file.
/// </summary>
public sealed class ModelLoadTests(TinyModelZipFixture fixture) : IClassFixture<TinyModelZipFixture>
{
    [Theory]
    [InlineData("MXCHRENC", "character encoder")]
    [InlineData("MXPREDCT", "mixer predictor")]
    public void A_newer_format_version_is_one_sentence_naming_the_part(string signature, string component)
    {
        // The version words follow the component's 8-byte signature in its header: written, then readable-from.
        byte[] zip = Patch(fixture.Bytes, signature, (bytes, at) =>
        {
            BitConverter.GetBytes(0x00090001u).CopyTo(bytes, at + 8);
            BitConverter.GetBytes(0x00090001u).CopyTo(bytes, at + 12);
        });
        var e = LoadFails(zip);
        Assert.Contains($"The model's {component} was saved in format 0x00090001", e.Message);
        Assert.Contains("load it with the MLNetMixers version that saved it", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Another_components_part_is_one_sentence()
    {
        byte[] zip = Patch(fixture.Bytes, "MXPREDCT", (bytes, at) => "MXLANGMD"u8.ToArray().CopyTo(bytes, at));
        var e = LoadFails(zip);
        Assert.Contains("The model zip holds a part written by another component ('MXLANGMD') where MLNetMixers expects its mixer predictor", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Damaged_zips_load_or_fail_quickly_and_are_never_modified()
    {
        string folder = TestData.NewTempFolder();
        var entries = EntryNames(fixture.Bytes);
        var damage = Gen.Select(Gen.Int[0, 3], Gen.Int[0, entries.Count - 1], Gen.Int[0, int.MaxValue], Gen.Byte);
        int n = 0;
        damage.Sample((kind, entry, position, value) =>
        {
            byte[] zip = Damage(fixture.Bytes, kind, entries[entry], position, value);
            string path = Path.Combine(folder, $"damaged-{n++}.zip");
            File.WriteAllBytes(path, zip);
            byte[] before = SHA256.HashData(File.ReadAllBytes(path));
            var load = Task.Run(() =>
            {
                try
                {
                    new MLContext(seed: 1).Model.Load(path, out _);
                    return null;
                }
                catch (Exception e)
                {
                    return e;
                }
            });
            Assert.True(load.Wait(TimeSpan.FromSeconds(20)), $"Model.Load hung on damage {kind} of {entries[entry]} at {position}");
            Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
            // Where the library's own reader fails, the message is one sentence (ML.NET's zip and header checks are its own).
            if (Innermost(load.Result) is FormatException { InnerException: not null } format && format.Message.StartsWith("The model", StringComparison.Ordinal))
                Assert.DoesNotContain('\n', format.Message);
        }, iter: 60, threads: 1, seed: "0N0XIzNsQ0O2");
    }

    private static List<string> EntryNames(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        return [.. archive.Entries.Select(e => e.FullName)];
    }

    /// <summary>0: flip a byte in an entry; 1: truncate an entry; 2: drop an entry; 3: truncate the zip itself.</summary>
    private static byte[] Damage(byte[] zip, int kind, string entryName, int position, byte value)
    {
        if (kind == 3)
            return zip[..(position % zip.Length)];
        using var output = new MemoryStream();
        using (var source = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read))
        using (var target = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries)
            {
                using var read = entry.Open();
                using var buffer = new MemoryStream();
                read.CopyTo(buffer);
                byte[] bytes = buffer.ToArray();
                if (entry.FullName == entryName)
                {
                    if (kind == 2)
                        continue;
                    if (bytes.Length > 0 && kind == 0)
                        bytes[position % bytes.Length] ^= (byte)(value | 1);
                    else if (kind == 1)
                        bytes = bytes[..(bytes.Length == 0 ? 0 : position % bytes.Length)];
                }
                using var write = target.CreateEntry(entry.FullName).Open();
                write.Write(bytes);
            }
        }
        return output.ToArray();
    }

    private static byte[] Patch(byte[] zip, string signature, Action<byte[], int> patch)
    {
        byte[] marker = System.Text.Encoding.ASCII.GetBytes(signature);
        using var output = new MemoryStream();
        bool patched = false;
        using (var source = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read))
        using (var target = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries)
            {
                using var read = entry.Open();
                using var buffer = new MemoryStream();
                read.CopyTo(buffer);
                byte[] bytes = buffer.ToArray();
                int at = bytes.AsSpan().IndexOf(marker);
                if (at >= 0 && !patched)
                {
                    patch(bytes, at);
                    patched = true;
                }
                using var write = target.CreateEntry(entry.FullName).Open();
                write.Write(bytes);
            }
        }
        Assert.True(patched, $"no part with signature {signature} in the zip");
        return output.ToArray();
    }

    private static Exception LoadFails(byte[] zip)
    {
        var e = Assert.ThrowsAny<Exception>(() => new MLContext(seed: 1).Model.Load(new MemoryStream(zip), out _));
        return Innermost(e)!;
    }

    private static Exception? Innermost(Exception? e)
    {
        // ML.NET calls loaders through reflection; the library's sentence is the first FormatException in the chain.
        for (var current = e; current is not null; current = current.InnerException)
        {
            if (current is FormatException && current.Message.StartsWith("The model", StringComparison.Ordinal))
                return current;
        }
        return e;
    }
}
