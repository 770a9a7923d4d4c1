"""Config nodes as plain Python containers (checkpoints load with ``weights_only=True``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf


def plain_dict(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A DictConfig or mapping as a plain ``dict`` (resolved); None stays None."""
    if value is None:
        return None
    if isinstance(value, DictConfig):
        return OmegaConf.to_container(value, resolve=True)
    return dict(value)
