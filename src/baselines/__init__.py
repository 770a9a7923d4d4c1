"""Non-neural and frozen-encoder baselines for ``python -m src.baseline``, on the neural runs'
splits and scored with their metric code: ``estimators`` (what a baseline is, class priors,
TF-IDF + logistic regression), ``frozen`` (a frozen encoder's features + logistic regression).
"""
