"""Start the output layer at the label priors instead of at p = 0.5.

With many rare labels (GoEmotions: 28 labels, about 3.5% positive each) and a zero output bias,
the first hundreds of AdamW steps go into pushing every logit down to the prior: Adam moves the
bias by about lr per step, so the encoder and head weights are bent towards "negative for
everything" and the features stop separating the classes. Setting the bias to the prior
log-odds makes the initial loss the prior entropy, so training starts on what discriminates.
"""

from __future__ import annotations

import lightning.pytorch as L
import numpy as np
import torch

from src.utils.errors import TextlabError


def prior_logits(labels: np.ndarray, task: str, eps: float = 1e-4) -> np.ndarray:
    """Log-odds of each label's training prevalence (multilabel; -1 = unscored is ignored), or
    the log prior of each class (multiclass: integer class ids)."""
    labels = np.asarray(labels)
    if task == "multiclass":
        counts = np.bincount(labels.astype(int).ravel(), minlength=int(labels.max()) + 1)
        prior = np.clip(counts / counts.sum(), eps, 1.0)
        return np.log(prior)
    scored = labels >= 0
    positives = ((labels == 1) & scored).sum(axis=0)
    prevalence = np.clip(positives / np.maximum(scored.sum(axis=0), 1), eps, 1 - eps)
    return np.log(prevalence / (1 - prevalence))


def output_layer(module: L.LightningModule) -> torch.nn.Linear:
    """The last Linear of the model's head."""
    layers = [m for m in module.head.modules() if isinstance(m, torch.nn.Linear)]
    return layers[-1]


def sequence_task(module: L.LightningModule, option: str) -> str:
    """The module's task, refusing models without a sequence head (token taggers)."""
    task = getattr(module, "task", "multilabel")
    if task not in ("multilabel", "multiclass") or not hasattr(module, "head"):
        raise TextlabError(
            f"{option} works for sequence classifiers, not task {task!r}; set {option}=false"
        )
    return task


def set_prior_bias(module: L.LightningModule, labels: np.ndarray, task: str) -> None:
    """Set the output bias of a sequence classifier (checked by `sequence_task`) to the priors
    of ``labels``."""
    bias = prior_logits(np.asarray(labels), task)
    layer = output_layer(module)
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))


class PriorBiasInit(L.Callback):
    """At the start of a fresh fit (not a resumed one), set the output bias to the priors."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or trainer.ckpt_path:  # resumed: the checkpoint's bias wins
            return
        task = sequence_task(pl_module, "callbacks.prior_bias_init.enabled")
        set_prior_bias(pl_module, trainer.datamodule.train_dataset.labels, task)
