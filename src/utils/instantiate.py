"""Build callbacks and loggers from their config groups (a dict of ``_target_`` nodes)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group; ``null`` entries switch one off."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(node)
        for node in group.values()
        if isinstance(node, DictConfig) and "_target_" in node
    ]
