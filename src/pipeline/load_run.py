"""Rebuild a trained model (and its data/tokenizer config) from a checkpoint of a run folder.

A checkpoint lives at ``<run>/checkpoints/<name>.ckpt``; the run folder's ``config.yaml``
(the resolved config written at training time) says how to build the model around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from src.utils.errors import TextlabError
from src.utils.instantiate import build


@dataclass
class LoadedRun:
    run_dir: Path
    cfg: DictConfig
    model: Any
    checkpoint: dict[str, Any]


def run_dir_of(ckpt_path: str | Path) -> Path:
    """``<run>/checkpoints/x.ckpt`` -> ``<run>``."""
    ckpt = Path(ckpt_path)
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def load_run_config(ckpt_path: str | Path) -> DictConfig:
    ckpt = Path(ckpt_path)
    if not ckpt.is_file():
        raise TextlabError(
            f"checkpoint not found: {ckpt}; pass ckpt_path=<run>/checkpoints/best.ckpt of a run"
        )
    config_file = run_dir_of(ckpt) / "config.yaml"
    if not config_file.is_file():
        raise TextlabError(
            f"{config_file} not found: the checkpoint must sit in a run folder written by "
            "`python -m src.train` (<run>/checkpoints/*.ckpt next to <run>/config.yaml)"
        )
    return OmegaConf.load(config_file)


def load_run(ckpt_path: str | Path, map_location: str = "cpu") -> LoadedRun:
    """The model of a run with the checkpoint's weights, in eval mode."""
    cfg = load_run_config(ckpt_path)
    try:
        checkpoint = torch.load(ckpt_path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises many types for a bad file)
        raise TextlabError(f"cannot read checkpoint {ckpt_path}: {err}") from err
    label_names = checkpoint.get("hyper_parameters", {}).get("label_names")
    if not label_names:
        raise TextlabError(f"checkpoint {ckpt_path} has no label_names hyper-parameter")
    model = build(cfg.model, label_names=list(label_names))
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return LoadedRun(run_dir_of(ckpt_path), cfg, model, checkpoint)
