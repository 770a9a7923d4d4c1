"""What a training run shows a person: the composed config once at the start, one per-label
table at the end, Lightning's checkpoint notices once, and the run's log file holding what the
console showed at the end."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
#: Lightning's logger for "Restoring states from ..." / "Loaded model weights from ..."
LIGHTNING_INFO = "lightning.pytorch.utilities.rank_zero"
ONCE_PREFIXES = ("Restoring states from the checkpoint", "Loaded model weights from the checkpoint")
#: the stages of the per-label table, in its column order
STAGES = ("val", "test")
#: ``<stage>/<x>/<y>`` keys that are not one score per label (``test/tuned/f1_macro``)
NOT_PER_LABEL = ("tuned", "base", "improvement")


def config_text(cfg: DictConfig) -> str:
    """The composed config as YAML, resolved where it can be."""
    try:
        return OmegaConf.to_yaml(cfg, resolve=True)
    except Exception:  # noqa: BLE001  (an interpolation only the run itself can resolve)
        return OmegaConf.to_yaml(cfg)


def show_config(cfg: DictConfig) -> None:
    """Log the composed config once, at the start (``print_config: false`` switches it off)."""
    if cfg.get("print_config", True):
        log.info("config:\n%s", config_text(cfg).rstrip())


class _Once(logging.Filter):
    """Let each of Lightning's checkpoint notices through once per run: validate, test and
    predict on the best checkpoint would say "Restoring states" three times."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        prefix = next((p for p in ONCE_PREFIXES if message.startswith(p)), None)
        if prefix is None:
            return True
        if prefix in self.seen:
            return False
        self.seen.add(prefix)
        return True


@contextmanager
def checkpoint_notices_once() -> Iterator[None]:
    logger = logging.getLogger(LIGHTNING_INFO)
    once = _Once()
    logger.addFilter(once)
    try:
        yield
    finally:
        logger.removeFilter(once)


def per_label_table(metrics: dict[str, Any]) -> list[str]:
    """One table: a row per label, a validation and a test column per metric
    (``val/auc/toxic`` -> row ``toxic``, column ``auc val``); empty when there are none."""
    cells: dict[str, dict[tuple[str, str], float]] = {}
    names: list[str] = []
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) != 3 or parts[0] not in STAGES or not isinstance(value, int | float):
            continue
        stage, metric, label = parts
        if metric in NOT_PER_LABEL:
            continue
        cells.setdefault(label, {})[(metric, stage)] = float(value)
        if metric not in names:
            names.append(metric)
    if not cells:
        return []
    columns = [(metric, stage) for metric in names for stage in STAGES]
    width = max(16, *(len(label) + 2 for label in cells))
    header = "".join(f"{f'{m} {s}':>12}" for m, s in columns)
    lines = [f"{'label':<{width}}{header}"]
    for label, row in cells.items():
        shown = [row.get(column) for column in columns]
        text = "".join(
            f"{v:>12.4f}" if v is not None and not math.isnan(v) else f"{'-':>12}" for v in shown
        )
        lines.append(f"{label:<{width}}{text}")
    return lines


def to_log_file(text: str) -> None:
    """Append ``text`` to the log files of the root logger (Hydra's ``<run>/train.log``), so
    the file ends as the console does."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.stream is not None:
            handler.acquire()
            try:
                handler.stream.write(text + "\n")
                handler.flush()
            finally:
                handler.release()
