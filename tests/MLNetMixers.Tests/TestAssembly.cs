// Test classes run one after another: on a 2-core CI machine classes training torch models in parallel only contend
// for the cores. (Concurrent training itself is safe, tested by ConcurrentTrainingTests, and reproducible, tested by
// TrainerDeterminismTests.)
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]

namespace MLNetMixers.Tests
{
    internal static class TestProcess
    {
        /// <summary>
        /// torch computes on one thread in this process, as every trainer test's options ask while it trains: on a 2-core
        /// CI machine two contending threads are slower, and scores compared across tests stay on one code path. Tests of
        /// the multi-thread paths (DataParallelGradientsTests, TrainerDeterminismTests) set their own count.
        /// </summary>
        [System.Runtime.CompilerServices.ModuleInitializer]
        internal static void UseOneTorchThread()
        {
            try
            {
                MLNetMixers.Training.TorchRuntime.EnsureAvailable();
                TorchSharp.torch.set_num_threads(1);
            }
            catch (InvalidOperationException)
            {
                // torch's native library did not load: TorchRuntimeTests reports why.
            }
        }
    }
}
