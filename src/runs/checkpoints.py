"""Checkpoint files: written whole or not at all, read weights-only with a one-line error for a
damaged file, ``best.ckpt`` linked to the best of the top k, and what a resumed run carries over
from the folder it resumes (its best checkpoints and CSV history)."""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from src.errors import TextlabError
from src.runs.folder import atomic_write_bytes

BEST = "best.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written whole or not at all, and read weights-only.

    A checkpoint goes to a temporary file beside its target, then is renamed into place: a full
    disk or a kill mid-write leaves the previous ``best.ckpt``/``last.ckpt`` as they were (the
    error names the file), never a truncated one posing as valid. Lightning's own writer goes
    through a temporary file elsewhere and copies it over the target. Reading refuses pickled
    code (``weights_only``) and says in one line when a file is damaged.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(Path(path), buffer.getbuffer())

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if not Path(path).is_file():
            raise TextlabError(f"checkpoint not found: {path}")
        try:
            return super().load_checkpoint(
                path, map_location=map_location, weights_only=weights_only is not False
            )
        except Exception as err:  # noqa: BLE001  (torch raises many types for a bad file)
            reason = " ".join(str(err).split())[:300]
            raise TextlabError(
                f"cannot read checkpoint {path}: {reason}; it is damaged, truncated or not a "
                "checkpoint written by textlab"
            ) from None


def same_folder(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def run_folder_of(checkpoint_dir: str | Path) -> Path:
    """``<run>/checkpoints`` -> ``<run>``; any other checkpoint folder is its own run folder."""
    folder = Path(checkpoint_dir)
    return folder.parent if folder.name == "checkpoints" else folder


def whole(path: str | Path) -> bool:
    """Whether a checkpoint file is there and complete (torch checkpoints are zip archives
    whose directory sits at the end: a truncated file has none)."""
    try:
        return Path(path).is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


def carry_csv_history(
    trainer: L.Trainer, earlier_run: Path, this_run: Path, checkpoint: dict[str, Any]
) -> int:
    """Put the rows of the earlier run's CSV log (up to the resumed epoch) in front of this
    run's, so ``csv/metrics.csv`` holds the whole history. Returns the rows carried."""
    epoch, step = checkpoint.get("epoch", -1), checkpoint.get("global_step", 0)
    carried = 0
    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger):
            continue
        try:
            relative = Path(logger.log_dir).resolve().relative_to(this_run.resolve())
        except ValueError:
            continue
        earlier_file = earlier_run / relative / "metrics.csv"
        try:
            with earlier_file.open(newline="", encoding="utf-8") as handle:
                rows = [
                    {k: v for k, v in row.items() if k and v not in ("", None)}
                    for row in csv.DictReader(handle)
                ]
        except (OSError, csv.Error, UnicodeDecodeError):
            continue
        rows = [row for row in rows if _before_resume(row, epoch, step)]
        logger.experiment.metrics[:0] = rows  # written ahead of this run's rows
        carried += len(rows)
    return carried


def _before_resume(row: dict[str, str], epoch: int, step: int) -> bool:
    """Rows of the epochs the checkpoint holds; the rest were lost with the kill and are
    trained again."""
    for key, limit, inclusive in (("epoch", epoch, True), ("step", step, False)):
        try:
            value = float(row[key])
        except (KeyError, ValueError):
            continue
        if math.isfinite(value):
            return value <= limit if inclusive else value < limit
    return False


def link_best(best_path: str | None) -> Path | None:
    """``checkpoints/best.ckpt`` -> the best checkpoint, unless it already is ``best.ckpt``."""
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
