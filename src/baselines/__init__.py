"""Non-neural and frozen-encoder baselines scored with the neural runs' metric code."""
