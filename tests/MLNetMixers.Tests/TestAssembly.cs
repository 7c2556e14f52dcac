// Test classes run one after another: on a 2-core CI machine classes training torch models in parallel only contend
// for the cores. (Concurrent training itself is safe, tested by ConcurrentTrainingTests, and reproducible, tested by
// TrainerDeterminismTests.)
[assembly: CollectionBehavior(DisableTestParallelization = true)]
