using MLNetMixers.Retrieval;
using static TorchSharp.torch;

namespace MLNetMixers.Tests.Retrieval;

/// <summary>The InfoNCE loss and its gradients against the formula written out with loops in double precision.</summary>
public class InfoNceTests
{
    private const double Tau = 0.05;

    private static double[][] UnitRows(int rows, int d, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows).Select(_ =>
        {
            var v = Enumerable.Range(0, d).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            double norm = Math.Sqrt(v.Sum(x => x * x));
            return v.Select(x => x / norm).ToArray();
        }).ToArray();
    }

    private static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();

    /// <summary>-(1/B) Σ_b log softmax(cos(q_b, c)/τ)[positive].</summary>
    private static double Direct(double[][] q, double[][][] candidates)
    {
        double total = 0;
        for (int b = 0; b < q.Length; b++)
        {
            var logits = candidates[b].Select(c => Dot(q[b], c) / Tau).ToArray();
            double max = logits.Max();
            double logSum = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
            total += logSum - logits[0];
        }
        return total / q.Length;
    }

    /// <summary>Row i's in-batch candidates: its own partner first, then every other row.</summary>
    private static double[][][] InBatchCandidates(double[][] rows)
        => rows.Select((own, i) => new[] { own }.Concat(rows.Where((_, j) => j != i)).ToArray()).ToArray();

    private static Tensor ToTensor(double[][] rows, bool grad)
        => tensor(rows.SelectMany(r => r).Select(x => (float)x).ToArray(), [rows.Length, rows[0].Length]).requires_grad_(grad);

    [Fact]
    public void Sampled_loss_and_query_gradient_match_the_formula()
    {
        int b = 3, k = 4, d = 5;
        var q = UnitRows(b, d, 1);
        var c = Enumerable.Range(0, b).Select(i => UnitRows(k, d, 10 + i)).ToArray();
        using var qt = ToTensor(q, grad: true);
        using var ct = tensor(c.SelectMany(x => x).SelectMany(r => r).Select(x => (float)x).ToArray(), [b, k, d]);
        using var loss = InfoNce.SampledLoss(qt, ct, Tau);
        Assert.Equal(Direct(q, c), loss.item<float>(), 4);

        loss.backward();
        var grad = qt.grad!.data<float>().ToArray();
        // Central differences of the direct formula.
        for (int i = 0; i < b; i++)
            for (int j = 0; j < d; j++)
            {
                double h = 1e-5;
                var plus = q.Select(r => (double[])r.Clone()).ToArray();
                var minus = q.Select(r => (double[])r.Clone()).ToArray();
                plus[i][j] += h;
                minus[i][j] -= h;
                double numeric = (Direct(plus, c) - Direct(minus, c)) / (2 * h);
                Assert.Equal(numeric, grad[i * d + j], 2);
            }
    }

    [Fact]
    public void In_batch_loss_uses_every_other_document_as_a_negative()
    {
        int b = 4, d = 6;
        var q = UnitRows(b, d, 2);
        var docs = UnitRows(b, d, 3);
        // Candidates of query i: its own document first, then the others.
        var candidates = InBatchCandidates(docs);
        using var qt = ToTensor(q, grad: false);
        using var dt = ToTensor(docs, grad: true);
        using var loss = InfoNce.InBatchLoss(qt, dt, Tau);
        Assert.Equal(Direct(q, candidates), loss.item<float>(), 4);

        loss.backward();
        var grad = dt.grad!.data<float>().ToArray();
        for (int i = 0; i < b; i++)
            for (int j = 0; j < d; j++)
            {
                double h = 1e-5;
                double Shifted(double delta)
                {
                    var moved = docs.Select(r => (double[])r.Clone()).ToArray();
                    moved[i][j] += delta;
                    return Direct(q, InBatchCandidates(moved));
                }
                Assert.Equal((Shifted(h) - Shifted(-h)) / (2 * h), grad[i * d + j], 2);
            }
    }

    [Fact]
    public void Symmetric_in_batch_loss_is_the_mean_of_both_directions()
    {
        int b = 5, d = 4;
        var q = UnitRows(b, d, 4);
        var docs = UnitRows(b, d, 5);
        using var qt = ToTensor(q, grad: false);
        using var dt = ToTensor(docs, grad: false);
        using var loss = InfoNce.InBatchLoss(qt, dt, Tau, symmetric: true);
        Assert.Equal((Direct(q, InBatchCandidates(docs)) + Direct(docs, InBatchCandidates(q))) / 2, loss.item<float>(), 4);
    }
}
