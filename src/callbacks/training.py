"""Callbacks around fit: the output bias started at the label priors, the untrained model
scored first (base-vs-tuned), checkpoints that keep ``best.ckpt`` meaningful (written whole or
not at all, and carried over when a run is resumed), and the loss/metric history the curve
plots draw."""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn

from src.errors import TextlabError
from src.runs.files import (
    BASE,
    CONFIG_FILE,
    IMPROVEMENT,
    METRICS_FILE,
    headline_keys,
    mark_resumed,
)

log = logging.getLogger(__name__)
BEST = "best.ckpt"


def set_prior_bias(module: L.LightningModule, train_labels: np.ndarray) -> np.ndarray:
    """Set the output bias of a classifier to its task's priors of ``train_labels``."""
    bias = module.task.prior_logits(np.asarray(train_labels))
    output_layer = getattr(module, "output_layer", None)
    if output_layer is None:
        raise TextlabError(
            f"{type(module).__name__} has no output layer to start at the label priors; "
            "switch the prior-bias option off"
        )
    layer = output_layer()
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))
    return bias


class PriorBiasInit(L.Callback):
    """Start the output bias at the training label priors instead of at p = 0.5.

    With many rare labels (GoEmotions: 28 labels, about 3.5% positive each) and a zero output
    bias, the first hundreds of AdamW steps go into pushing every logit down to the prior (Adam
    moves the bias by about lr per step), which bends encoder and head towards "negative for
    everything". Starting at the prior log-odds makes the initial loss the prior entropy, so
    training starts on what discriminates. A resumed fit keeps the checkpoint's bias; a model
    with no output layer over the labels (a token tagger) is left as it is.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or trainer.ckpt_path:
            return
        if getattr(pl_module, "output_layer", None) is None:
            log.info(
                "prior bias: %s has no output layer over labels; left as it is",
                type(pl_module).__name__,
            )
            return
        dataset = getattr(trainer.datamodule, "train_dataset", None)
        labels = getattr(dataset, "labels", None)
        if labels is None:  # fit on bare dataloaders: the training labels are unknown here
            log.info("prior bias: no DataModule with training labels; the bias is left at 0")
            return
        set_prior_bias(pl_module, labels)


class BaseVsTuned(L.Callback):
    """Score the model as it is before fit (its untrained head) on the test split.

    Stored as ``base/test/...``; after the final test, ``improvement/test/...`` is the
    fine-tuned minus base difference of every headline metric. Both reach the loggers and, as
    ``run_metrics``, the run's metrics.json and results row. Evaluation uses no random numbers,
    so the training run itself is the same with or without it.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.run_metrics: dict[str, float] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not self.enabled or stage != "fit" or trainer.datamodule is None:
            return
        device = trainer.strategy.root_device
        scorer = L.Trainer(
            accelerator=device.type,
            devices=[device.index] if device.type == "cuda" and device.index is not None else 1,
            precision=trainer.precision,
            logger=False,
            callbacks=[],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        datamodule = trainer.datamodule
        try:
            results = scorer.test(pl_module, datamodule=datamodule, verbose=False)[0]
        finally:  # the module and data belong to the training run again
            pl_module.trainer = trainer
            datamodule.trainer = trainer
        base = {f"{BASE}{key}": float(value) for key, value in results.items()}
        self.run_metrics = dict(base)
        for logger in trainer.loggers:
            logger.log_metrics(base, step=0)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or not self.run_metrics:
            return
        tuned = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        gains = {
            IMPROVEMENT + key: tuned[key] - self.run_metrics[BASE + key]
            for key in headline_keys(tuned)
            if BASE + key in self.run_metrics
        }
        self.run_metrics.update(gains)
        for logger in trainer.loggers:
            logger.log_metrics(gains, step=trainer.global_step)


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
        write_atomically(Path(path), buffer.getbuffer())

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


def write_atomically(path: Path, data: Any) -> Path:
    """``data`` (bytes-like) into ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None or str(err.filename) == tmp:
            err.filename = str(path)  # name the checkpoint, not the temporary file
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint that refuses names which would overwrite each other, keeps
    ``checkpoints/best.ckpt`` pointing at the best of the top k (a relative link), so every
    ``ckpt_path=<run>/checkpoints/best.ckpt`` command still works, and continues the run it
    resumes.

    A resumed run writes a new run folder. Lightning then forgets the best score so far (the
    checkpoint folder changed), so a resumed run would call its first epoch the best. Here the
    earlier run's best checkpoints are copied into the new folder and their scores kept, the
    CSV history of the earlier folder is carried into the new one (up to the resumed epoch), and
    the earlier folder is marked ``resumed_by`` (``interrupted`` if it was killed).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.save_top_k not in (0, 1) and "{" not in str(self.filename):
            raise TextlabError(
                f"callbacks.model_checkpoint.save_top_k={self.save_top_k} needs a filename "
                f"with {{epoch}}/{{step}} (got {self.filename!r}), or the checkpoints "
                "overwrite each other; use callbacks=top_k"
            )
        #: earlier checkpoint path -> its copy in this run's folder (a resumed run)
        self._carried: dict[str, str] = {}
        self._resuming = False

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Resuming from another run's folder: carry its best checkpoints, history and status
        over (rank 0 copies; every rank maps the paths the same way)."""
        self._resuming = trainer.state.fn == TrainerFn.FITTING  # not validate/test(ckpt_path)
        state = (checkpoint.get("callbacks") or {}).get(self.state_key) or {}
        earlier_dir = state.get("dirpath")
        if not self._resuming or not earlier_dir or not self.dirpath:
            return
        if same_folder(earlier_dir, self.dirpath):
            return
        earlier_run, this_run = run_folder_of(earlier_dir), run_folder_of(self.dirpath)
        paths = {*state.get("best_k_models", {}), state.get("best_model_path")}
        self._carried = {
            str(p): str(Path(self.dirpath) / Path(p).name) for p in paths if p and whole(p)
        }
        if trainer.is_global_zero:
            for earlier, copy in self._carried.items():
                if not Path(copy).exists():
                    with open(earlier, "rb") as handle:
                        write_atomically(Path(copy), handle.read())
            carry_csv_history(trainer, earlier_run, this_run, checkpoint)
            if (earlier_run / CONFIG_FILE).is_file() or (earlier_run / METRICS_FILE).is_file():
                mark_resumed(earlier_run, this_run)
        missing = sorted(str(p) for p in paths if p and str(p) not in self._carried)
        if missing:
            log.warning(
                "resuming: the earlier best checkpoint(s) %s are gone or damaged; the best of "
                "this run is chosen among the epochs from here on",
                ", ".join(missing),
            )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        earlier_dir = state_dict.get("dirpath")
        if not earlier_dir or not self.dirpath or same_folder(earlier_dir, self.dirpath):
            super().load_state_dict(state_dict)
            return
        if not self._resuming:  # scoring a checkpoint copied from the earlier folder
            return
        carried = self._carried
        scores = {
            carried[str(p)]: score
            for p, score in (state_dict.get("best_k_models") or {}).items()
            if str(p) in carried
        }
        best = carried.get(str(state_dict.get("best_model_path")))
        if best is None or state_dict.get("monitor") != self.monitor:
            return  # nothing to carry: this run's epochs alone choose the best
        self.best_model_path = best
        self.best_model_score = state_dict.get("best_model_score")
        self.best_k_models = scores or {best: self.best_model_score}
        kth = carried.get(str(state_dict.get("kth_best_model_path")))
        self.kth_best_model_path = kth or best
        self.kth_value = state_dict.get("kth_value") if kth else self.best_model_score
        log.info("resuming: best %s so far %s (%s)", self.monitor, self.best_model_score, best)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_fit_end(trainer, pl_module)
        if trainer.is_global_zero:
            link_best(self.best_model_path)


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


class MetricHistory(L.Callback):
    """The training loss per step and the validation metrics per epoch, kept in memory so
    every run can draw its curves whatever logger it uses.

    ``steps``: [(global step, train loss)]; ``epochs``: one dict of val/* per validation.
    """

    def __init__(self) -> None:
        self.steps: list[tuple[int, float]] = []
        self.epochs: list[dict[str, float]] = []
        self._since_validation: list[float] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch, batch_idx
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            value = float(loss.detach().float().cpu())
            self.steps.append((trainer.global_step, value))
            self._since_validation.append(value)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        row = {"epoch": float(trainer.current_epoch), "step": float(trainer.global_step)}
        if self._since_validation:
            row["train/loss"] = sum(self._since_validation) / len(self._since_validation)
            self._since_validation = []
        for key, value in trainer.callback_metrics.items():
            if key.startswith("val/") and isinstance(value, torch.Tensor) and value.numel() == 1:
                row[key] = float(value)
        self.epochs.append(row)

    def as_dict(self) -> dict[str, Any]:
        return {"steps": [list(s) for s in self.steps], "epochs": list(self.epochs)}
