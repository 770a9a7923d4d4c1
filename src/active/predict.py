"""Pool predictions for the strategies: eval-mode probabilities and MC-dropout samples."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from src.data.collate import PaddingCollator, TokenizedDataset
from src.pipeline.predictions import autocast_for, inference_device, predict_logits


def subset(dataset: TokenizedDataset, rows: np.ndarray) -> TokenizedDataset:
    """The rows of a tokenised dataset at these positions, in this order."""
    return TokenizedDataset([dataset.input_ids[i] for i in rows], dataset.labels[rows])


def loader(
    dataset: TokenizedDataset,
    batch_size: int,
    pad_token_id: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=PaddingCollator(pad_token_id),
    )


def eval_probs(model: nn.Module, data: DataLoader, precision: str, accelerator: str) -> np.ndarray:
    """``[N, L]`` probabilities with dropout off (model in eval mode)."""
    return predict_logits(model, data, precision, accelerator).probs


def _dropout_on(module: nn.Module) -> None:
    for child in module.modules():
        if isinstance(child, nn.Dropout):
            child.train()


@torch.no_grad()
def mc_dropout_probs(
    model: nn.Module,
    data: DataLoader,
    passes: int,
    scope: str,
    precision: str,
    accelerator: str,
) -> np.ndarray:
    """``[passes, N, L]`` probabilities with dropout on at query time only.

    ``scope="model"``: every ``nn.Dropout`` of encoder and head is on and each pass runs the
    whole model (attention-probability dropout, which follows the attention module's mode in
    transformers, stays off). ``scope="head"``: the encoder runs once in eval mode and only the
    head's dropout is on, so a pass costs one head evaluation.
    """
    device = inference_device(accelerator)
    was_training = model.training
    model.eval().to(device)
    _dropout_on(model if scope == "model" else model.head)
    captured: list[torch.Tensor] = []
    hook = None
    if scope == "head":  # the head's input: the pooled vector
        hook = model.head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    samples: list[list[torch.Tensor]] = [[] for _ in range(passes)]
    try:
        for batch in data:
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            with autocast_for(precision, device):
                if scope == "head":
                    captured.clear()
                    model(ids, mask)  # encoder in eval mode; the hook keeps the pooled vector
                    pooled = captured[0]
                    outputs = [model.head(pooled) for _ in range(passes)]
                else:
                    outputs = [model(ids, mask) for _ in range(passes)]
            for t, logits in enumerate(outputs):
                samples[t].append(torch.sigmoid(logits.float()).cpu())
    finally:
        if hook is not None:
            hook.remove()
        model.train(was_training)
    return torch.stack([torch.cat(s) for s in samples]).numpy()
