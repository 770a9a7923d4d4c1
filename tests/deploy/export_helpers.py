"""Shared by the export and serve tests: tiny trained runs and reference predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from src.config import build, build_datamodule
from src.runs.loading import load_run
from src.runs.provenance import write_resolved_config
from src.train import train
from tests.conftest import TINY, compose_config

# quick runs: no threshold tuning / plots unless a test needs them
FAST = ["analyses=false", "trainer.max_epochs=1", "data.max_train_rows=64", "test=false"]
# a run that learned something (test AUC well above chance), with tuned thresholds (every label
# tuned, however few its validation positives in these few rows)
LEARNED = [
    "trainer.max_epochs=2",
    "callbacks.thresholds.min_positives=1",
    "model.optimizer.lr=2e-3",
    "callbacks.plots.enabled=false",
    "callbacks.calibration.temperature_scaling=false",
]


def train_tiny(run_dir: Path, cache_dir: Path, *overrides: str) -> Path:
    """Train the tiny config (plus overrides) into run_dir; return its best checkpoint."""
    cfg = compose_config("train", [*TINY, *overrides], run_dir, cache_dir)
    return Path(train(cfg)["best_checkpoint"])


def untrained_run(run_dir: Path, cache_dir: Path, *overrides: str) -> Path:
    """A run folder without training (seconds): the tiny config's model with every weight
    moved off its initial value (a zero-initialised pooler weight would hide a weight the
    export forgets), saved as its best checkpoint; returns that checkpoint."""
    cfg = compose_config("train", [*TINY, *overrides], run_dir, cache_dir)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    model = build(cfg.model, label_names=datamodule.label_names)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=generator))
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    hyper_parameters = {"label_names": list(model.label_names)}
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hyper_parameters}, ckpt)
    write_resolved_config(cfg, run_dir)
    return ckpt


_LEARNED_RUNS: dict[Path, Path] = {}


def learned_run(tmp_root: Path, cache_dir: Path) -> Path:
    """The LEARNED run's best checkpoint, trained once per test session (export and serve
    tests share it); tests that change the run work on a copy."""
    if cache_dir not in _LEARNED_RUNS:
        _LEARNED_RUNS[cache_dir] = train_tiny(tmp_root / "learned", cache_dir, *LEARNED)
    return _LEARNED_RUNS[cache_dir]


def torch_reference(ckpt: Path, texts: list[str]) -> np.ndarray:
    """Probabilities of the run's PyTorch model, tokenised as training tokenises (the run's
    tokenizer, truncation to max_length, batch padding)."""
    run = load_run(ckpt)
    tokenizer = build(run.cfg.backbone.tokenizer)
    encoded = tokenizer(
        texts,
        truncation=True,
        max_length=int(run.cfg.data.max_length),
        padding=True,
        return_tensors="pt",
        return_token_type_ids=False,
    )
    with torch.no_grad():
        logits = run.model(encoded["input_ids"], encoded["attention_mask"])
    return torch.sigmoid(logits.float()).numpy()


def jigsaw_test_rows(ckpt: Path, max_rows: int | str | None = "run"):
    """The run's real Jigsaw test rows (texts, targets), in its DataModule's order."""
    from src.deploy.exporter import scored_test_rows

    run = load_run(ckpt)
    return scored_test_rows(run.cfg.data, build(run.cfg.backbone.tokenizer), max_rows)
