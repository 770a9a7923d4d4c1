"""Keeping the best k checkpoints: names that do not collide, and ``best.ckpt`` kept pointing
at the best one so every ``ckpt_path=<run>/checkpoints/best.ckpt`` command still works."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

from src.utils.errors import TextlabError

BEST = "best.ckpt"


def check_top_k(callbacks: Iterable[Any]) -> None:
    """With ``save_top_k`` other than 0/1 a fixed filename would overwrite itself: refuse it."""
    for callback in callbacks:
        keeps_several = isinstance(callback, ModelCheckpoint) and callback.save_top_k not in (0, 1)
        if keeps_several and "{" not in str(callback.filename):
            raise TextlabError(
                f"callbacks.model_checkpoint.save_top_k={callback.save_top_k} needs a "
                f"filename with {{epoch}}/{{step}} (got {callback.filename!r}), or the "
                "checkpoints overwrite each other; use callbacks=top_k"
            )


def link_best(best_path: str | None) -> Path | None:
    """``checkpoints/best.ckpt`` -> the best of the top k (a relative symlink), unless the best
    checkpoint already is ``best.ckpt``. Returns the link, or None."""
    if not best_path:
        return None
    best = Path(best_path)
    if best.name == BEST or not best.is_file():
        return None
    link = best.with_name(BEST)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(best.name, link)
    return link
