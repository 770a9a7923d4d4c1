"""Early stopping and keeping the best k checkpoints, as callbacks config options."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.errors import TextlabError
from src.train import train


def test_early_stopping_stops_when_the_objective_stalls(make_cfg) -> None:
    # lr 0: the weights never change, so val/auc_macro never improves after the first epoch
    cfg = make_cfg(
        "callbacks=early_stopping",
        "callbacks.early_stopping.patience=1",
        "model.optimizer.lr=0.0",
        "trainer.max_epochs=5",
        "data.max_train_rows=64",
        "analyses=false",
    )
    assert cfg.callbacks.early_stopping.monitor == "val/auc_macro"
    summary = train(cfg)
    assert summary["epochs_trained"] == 2  # epoch 0 sets the best, epoch 1 stalls: stop


@pytest.mark.slow
def test_top_k_keeps_k_checkpoints_and_links_the_best(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "callbacks=top_k",
        "callbacks.model_checkpoint.save_top_k=2",
        "trainer.max_epochs=3",
        "data.max_train_rows=64",
        "model.optimizer.lr=1e-3",
        "analyses=false",
    )
    summary = train(cfg)
    folder = tmp_path / "run" / "checkpoints"
    kept = sorted(p.name for p in folder.glob("epoch*.ckpt"))
    assert len(kept) == 2 and (folder / "last.ckpt").is_file()
    best = Path(summary["best_checkpoint"])
    assert best.name in kept
    link = folder / "best.ckpt"
    assert link.is_symlink() and link.resolve() == best.resolve()
    scores = {name: torch.load(folder / name, weights_only=False)["callbacks"] for name in kept}
    assert scores  # both hold their monitored score; the link points at the higher one
    values = {
        name: next(v["best_model_score"] for k, v in cb.items() if k.startswith("RunCheckpoint"))
        for name, cb in scores.items()
    }
    assert values[best.name] == max(values.values())


def test_top_k_with_a_fixed_filename_is_refused(make_cfg) -> None:
    cfg = make_cfg("callbacks.model_checkpoint.save_top_k=2")
    with pytest.raises(TextlabError, match="needs a filename with"):
        train(cfg)
