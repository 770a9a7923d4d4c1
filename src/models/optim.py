"""AdamW parameter groups and the linear warm-up / decay schedule used for fine-tuning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

NO_DECAY_NAMES = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Biases and LayerNorm weights get no weight decay (standard BERT fine-tuning recipe)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_norm = param.ndim == 1 or name.endswith(NO_DECAY_NAMES)
        (no_decay if is_norm else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def linear_warmup_decay(
    optimizer: Optimizer, num_training_steps: int, warmup_ratio: float = 0.1
) -> LambdaLR:
    """Learning rate rises linearly for ``warmup_ratio`` of the steps, then falls to zero."""
    total = max(1, int(num_training_steps))
    warmup = int(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return LambdaLR(optimizer, factor)


def configure_adamw_schedule(
    module: Any,
    weight_decay: float,
    optimizer_factory: Callable[..., torch.optim.Optimizer] | None,
    scheduler_factory: Callable[..., Any] | None,
) -> Any:
    """What ``configure_optimizers`` returns for every model here: the optimizer over the decay
    groups, and the scheduler stepped per batch over the trainer's estimated steps."""
    optimizer = (optimizer_factory or torch.optim.AdamW)(decay_groups(module, weight_decay))
    if scheduler_factory is None:
        return optimizer
    steps = module.trainer.estimated_stepping_batches
    scheduler = scheduler_factory(optimizer, num_training_steps=steps)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
