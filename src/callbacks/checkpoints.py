"""The checkpoint callback: Lightning's ModelCheckpoint that keeps ``best.ckpt`` meaningful and
continues the run it resumes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

from src.errors import TextlabError
from src.runs.checkpoints import (
    carry_csv_history,
    link_best,
    run_folder_of,
    same_folder,
    whole,
)
from src.runs.folder import CONFIG_FILE, METRICS_FILE, atomic_write_bytes
from src.runs.status import mark_resumed

log = logging.getLogger(__name__)


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
                        atomic_write_bytes(Path(copy), handle.read())
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
        kth_value = state_dict.get("kth_value") if kth else self.best_model_score
        assert kth_value is not None  # Lightning saves each best path together with its score
        self.kth_value = kth_value
        score = self.best_model_score
        shown = f"{float(score):.4f}" if score is not None else "none"  # not a raw tensor
        log.info("resuming: best %s so far %s (%s)", self.monitor, shown, best)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_fit_end(trainer, pl_module)
        if trainer.is_global_zero:
            link_best(self.best_model_path)
