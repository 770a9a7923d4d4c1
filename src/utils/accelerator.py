"""Fail at once, in one line, when a trainer config asks for hardware this machine lacks."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from src.utils.errors import TextlabError

GPU_ACCELERATORS = {"gpu", "cuda"}


def check_accelerator(trainer_cfg: DictConfig) -> None:
    accelerator = str(trainer_cfg.get("accelerator", "auto")).lower()
    if accelerator in GPU_ACCELERATORS and not torch.cuda.is_available():
        raise TextlabError(
            f"no GPU found (trainer.accelerator={accelerator}); use trainer=cpu on this machine"
        )
    devices = trainer_cfg.get("devices", 1)
    if accelerator in GPU_ACCELERATORS and isinstance(devices, int) and devices > 0:
        available = torch.cuda.device_count()
        if devices > available:
            raise TextlabError(
                f"trainer.devices={devices} but only {available} GPU(s) found; "
                f"set trainer.devices={available}"
            )
