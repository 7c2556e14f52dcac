// Test classes run one after another. Two reasons: the bit-exact determinism tests assume no other torch training in
// the process (dropout draws from torch's global generator), and on a 2-core CI machine classes training torch models
// in parallel only contend for the cores. (Concurrent training itself is safe and tested: ConcurrentTrainingTests.)
[assembly: CollectionBehavior(DisableTestParallelization = true)]
