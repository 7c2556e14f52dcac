using static TorchSharp.torch;

namespace MLNetMixers.Tests.Performance;

/// <summary>Forward and backward through a layer with a weight and a bias (Linear, LayerNorm), for comparing implementations.</summary>
internal static class AffineGradients
{
    /// <summary>The output, then the gradients of the input, the layer's weight and its bias.</summary>
    public static Tensor[] Of(nn.Module layer, Func<Tensor, Tensor> forward, Tensor x, Tensor upstream)
    {
        layer.zero_grad();
        var input = x.detach().clone().requires_grad_();
        var y = forward(input);
        y.backward([upstream]);
        return [y.detach(), input.grad!.clone(), layer.get_parameter("weight")!.grad!.clone(), layer.get_parameter("bias")!.grad!.clone()];
    }
}
