// Placeholder main job until the Model Builder-style CLI lands: trains one bidirectional mixer block
// to copy the reversed sequence, which needs token mixing across positions.
using MLNetMixers.Models;
using MLNetMixers.Training;
using TorchSharp;
using static TorchSharp.torch;

TorchRuntime.EnsureAvailable();
torch.manual_seed(0);
const int length = 8, width = 32, vocabulary = 10;
var embed = nn.Embedding(vocabulary, width);
var block = new MixerBlock(length, width);
var head = nn.Linear(width, vocabulary);
var parameters = embed.parameters().Concat(block.parameters()).Concat(head.parameters());
var optimizer = optim.AdamW(parameters, lr: 3e-3);
for (int step = 1; step <= 300; step++)
{
    using var scope = NewDisposeScope();
    var tokens = randint(0, vocabulary, [64, length]);
    var logits = head.forward(block.forward(embed.forward(tokens)));
    var loss = nn.functional.cross_entropy(logits.reshape(-1, vocabulary), tokens.flip(1).reshape(-1));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step % 50 == 0)
        Console.WriteLine($"step {step,4}  loss {loss.item<float>():F4}");
}
