namespace MLNetMixers;

/// <summary>What a mixer model predicts.</summary>
public enum MixerTask
{
    /// <summary>Two classes: one logit, a probability and a Boolean predicted label.</summary>
    BinaryClassification,

    /// <summary>K classes: K logits, a probability per class and a key predicted label.</summary>
    MulticlassClassification,

    /// <summary>One number, predicted in the label's units.</summary>
    Regression,
}

/// <summary>The network a mixer trainer fits over the encoded characters.</summary>
public enum TabularArchitecture
{
    /// <summary>The bidirectional mixer: token mixing across positions, then a channel MLP, per block.</summary>
    Mixer,

    /// <summary>Baseline: the seed paper's MLP over the flattened character embeddings.</summary>
    Mlp,

    /// <summary>Baseline: a small pre-LayerNorm transformer encoder (self-attention instead of token mixing).</summary>
    Transformer,
}

/// <summary>How the learning rate decays after the linear warmup.</summary>
public enum LearningRateSchedule
{
    /// <summary>Half a cosine from the peak learning rate to zero.</summary>
    Cosine,

    /// <summary>A straight line from the peak learning rate to zero.</summary>
    Linear,

    /// <summary>The peak learning rate until the end.</summary>
    Constant,
}

/// <summary>The number format of the forward and backward passes.</summary>
public enum MixerPrecision
{
    /// <summary>32-bit floats throughout (TF32 matrix products on CUDA GPUs that have them, while the trainer trains; the process's setting is restored after).</summary>
    Float32,

    /// <summary>
    /// bfloat16 matrix products with 32-bit master weights: an opt-in on CPUs with bfloat16 instructions, slightly
    /// less exact. Faster where those instructions outrun float32 ones (AMD Zen 4: 2-3x; CPUs with AMX); slower on
    /// CPUs with AVX512-BF16 but no AMX. The trainer measures this before training and warns through the
    /// MLContext's log when bfloat16 will be slower.
    /// </summary>
    BFloat16,
}
