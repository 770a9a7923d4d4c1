"""Training throughput of a real ``src.train`` run, from the inside: a Lightning callback.

``metrics.json`` only has the run's wall time, which includes start-up, data preparation,
validation, test and the analyses. This callback times the training batches alone (validation
excluded; the GPU synchronised at the few points where a timed stretch starts or stops, never
per step), counts samples and token slots, and writes ``fit_timing.json`` into the run folder
when fit ends. The first ``warmup_steps`` batches (CUDA start-up, ``torch.compile``) are
reported apart from the rest, so runs with and without compilation compare on the warm steps.

    python -m src.train +callbacks.fit_timer._target_=benchmarks.fit_timer.FitTimer
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from benchmarks.training import synchronize

FILENAME = "fit_timing.json"
PHASES = ("warmup", "warm")


class FitTimer(Callback):
    """Seconds, samples and token slots of the training batches; ``fit_timing.json`` at the end.

    Args:
        warmup_steps: batches counted as warm-up (reported apart from the rest).
        path: where to write; by default ``fit_timing.json`` in the trainer's root folder
            (``src.train``: the run folder).
    """

    def __init__(self, warmup_steps: int = 10, path: str | None = None) -> None:
        self.warmup_steps = warmup_steps
        self.path = path
        self.batches = 0
        #: when the running timed stretch started, and the phase its batches belong to
        self.started: float | None = None
        self.stretch = "warmup"
        self.totals = {phase: _empty() for phase in PHASES}

    @property
    def phase(self) -> str:
        return "warmup" if self.batches < self.warmup_steps else "warm"

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.batches == self.warmup_steps:  # the warm-up ends here: close its stretch
            self._stop(pl_module.device)
        if self.started is None:
            synchronize(pl_module.device)
            self.started = time.perf_counter()
            self.stretch = self.phase

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        totals = self.totals[self.phase]
        ids = batch["input_ids"]
        totals["samples"] += int(ids.shape[0])
        totals["slots"] += int(ids.numel())
        # summed on the device, read once at the end: no synchronisation per step
        tokens = batch["attention_mask"].sum()
        totals["tokens"] = tokens if totals["tokens"] is None else totals["tokens"] + tokens
        self.batches += 1

    def on_validation_start(self, trainer, pl_module) -> None:
        self._stop(pl_module.device)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._stop(pl_module.device)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._stop(pl_module.device)
        if trainer.is_global_zero:
            path = Path(self.path) if self.path else Path(trainer.default_root_dir) / FILENAME
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.summary(pl_module.device), indent=2) + "\n")

    def _stop(self, device: torch.device) -> None:
        """End the timed stretch that is running (if any); its seconds go to its phase (a
        stretch never spans the end of the warm-up)."""
        if self.started is None:
            return
        synchronize(device)
        self.totals[self.stretch]["seconds"] += time.perf_counter() - self.started
        self.started = None

    def summary(self, device: torch.device) -> dict[str, Any]:
        """What ``fit_timing.json`` holds: per phase and over all training batches."""
        phases = {name: _figures(totals) for name, totals in self.totals.items()}
        both = {
            key: sum(_number(self.totals[p][key]) for p in PHASES)
            for key in ("seconds", "samples", "slots", "tokens")
        }
        cuda = device.type == "cuda"
        return {
            "device": torch.cuda.get_device_name(device) if cuda else "cpu",
            "warmup_steps": self.warmup_steps,
            "batches": self.batches,
            **phases,
            "all": _figures(both),
            "peak_gpu_memory_gb": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        }


def _empty() -> dict[str, Any]:
    return {"seconds": 0.0, "samples": 0, "slots": 0, "tokens": None}


def _number(value: Any) -> float:
    if value is None:
        return 0
    return value.item() if isinstance(value, torch.Tensor) else value


def _figures(totals: dict[str, Any]) -> dict[str, Any]:
    seconds, samples = totals["seconds"], totals["samples"]
    slots, tokens = totals["slots"], int(_number(totals["tokens"]))
    return {
        "seconds": seconds,
        "samples": samples,
        "samples_per_s": samples / seconds if seconds else None,
        "padded_fraction": 1 - tokens / slots if slots else None,
    }
