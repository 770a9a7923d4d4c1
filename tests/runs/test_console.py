"""The training console: one per-label table, Lightning's checkpoint notices once, no "next"
block after a sweep's jobs."""

from __future__ import annotations

import logging

import pytest

from src.runs.console import LIGHTNING_INFO, checkpoint_notices_once, per_label_table
from src.train import format_summary

METRICS = {
    "val/auc/toxic": 0.9,
    "test/auc/toxic": 0.8,
    "val/auc/threat": float("nan"),
    "test/f1/toxic": 0.5,
    "test/tuned/f1_macro": 0.4,
    "test/auc_macro": 0.8,
}


def test_per_label_table_has_a_row_per_label_and_formats_numbers() -> None:
    lines = per_label_table(METRICS)
    assert lines[0].split() == ["label", "auc", "val", "auc", "test", "f1", "val", "f1", "test"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows == {"toxic": ["0.9000", "0.8000", "-", "0.5000"], "threat": ["-"] * 4}


def test_next_block_only_outside_a_sweep() -> None:
    summary = {"metrics": METRICS, "best_checkpoint": "run/checkpoints/best.ckpt"}
    assert "next:" in format_summary(summary, "run")
    assert "next:" not in format_summary(summary, "run", next_block=False)


def test_checkpoint_notices_once(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(LIGHTNING_INFO)
    with caplog.at_level(logging.INFO, logger=LIGHTNING_INFO), checkpoint_notices_once():
        for _ in range(3):
            logger.info("Restoring states from the checkpoint path at best.ckpt")
            logger.info("Loaded model weights from the checkpoint at best.ckpt")
    assert caplog.text.count("Restoring states") == 1 and caplog.text.count("Loaded model") == 1
