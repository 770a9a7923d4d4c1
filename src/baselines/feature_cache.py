"""Disk cache for frozen-encoder features: extraction takes minutes on CPU, reuse is free.

The key covers what the vectors depend on: the encoder's weights (a hash of its state dict,
so a randomly initialised test encoder never collides with a trained one), the tokenizer, the
exact input rows, pooling and max_length.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch


def weights_fingerprint(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def inputs_fingerprint(inputs: list[Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, ensure_ascii=False).encode()).hexdigest()


def cached_array(
    cache_dir: str | Path | None, key_parts: dict[str, Any], compute: Callable[[], np.ndarray]
) -> tuple[np.ndarray, bool]:
    """``compute()``, saved under a hash of ``key_parts``; returns (array, cache hit)."""
    if cache_dir is None:
        return compute(), False
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:32]
    path = Path(cache_dir) / f"{key}.npy"
    if path.is_file():
        return np.load(path), True
    array = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)
    return array, False
