using static TorchSharp.torch;

namespace MLNetMixers.Benchmarks;

/// <summary>
/// Ways to compute token mixing that the library does not use: the plain definitions its fast paths are tested against,
/// and the alternative TokenMixingBenchmark measures against <see cref="Models.TokenMixing.Mix"/>.
/// </summary>
internal static class TokenMixingVariants
{
    /// <summary>The plain definition, y = matmul(W, x) + bias.</summary>
    public static Tensor MixReference(Tensor matrix, Tensor x, Tensor bias) => matmul(matrix, x) + bias;

    /// <summary>The plain definition per head, matmul(W, x) + bias for x [B, H, T, D/H].</summary>
    public static Tensor MixHeadsReference(Tensor matrices, Tensor x, Tensor bias) => matmul(matrices, x) + bias;

    /// <summary>y[b] = W · x[b] for x [B, T, D] as one [T, T] x [T, B·D] GEMM.</summary>
    public static Tensor MixAsOneGemm(Tensor matrix, Tensor x)
    {
        long batch = x.shape[0], length = x.shape[1], width = x.shape[2];
        var columns = x.transpose(0, 1).reshape(length, batch * width);
        return matmul(matrix, columns).view(length, batch, width).transpose(0, 1);
    }
}
