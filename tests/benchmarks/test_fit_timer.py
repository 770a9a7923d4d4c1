"""FitTimer: training batches timed apart from validation, the warm-up apart from the rest."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmarks.fit_timer import FILENAME, FitTimer


def batch(rows: int, width: int, real: int) -> dict[str, torch.Tensor]:
    mask = torch.zeros(rows, width, dtype=torch.long)
    mask[:, :real] = 1
    return {"input_ids": torch.ones(rows, width, dtype=torch.long), "attention_mask": mask}


def test_warm_up_and_validation_are_kept_out_of_the_warm_figures(tmp_path: Path) -> None:
    timer = FitTimer(warmup_steps=2)
    trainer = SimpleNamespace(default_root_dir=str(tmp_path), is_global_zero=True)
    module = SimpleNamespace(device=torch.device("cpu"))
    index = 0
    for _epoch in range(2):  # two epochs of 3 batches of 4 rows, 8 wide, 6 real tokens
        for _ in range(3):
            timer.on_train_batch_start(trainer, module, None, index)
            time.sleep(0.01)
            timer.on_train_batch_end(trainer, module, None, batch(4, 8, 6), index)
            index += 1
        timer.on_validation_start(trainer, module)
        time.sleep(0.2)  # validation: not timed
        timer.on_train_epoch_end(trainer, module)
    timer.on_fit_end(trainer, module)
    report = json.loads((tmp_path / FILENAME).read_text())
    assert report["batches"] == 6 and report["device"] == "cpu"
    assert report["warmup"]["samples"] == 8 and report["warm"]["samples"] == 16
    assert report["all"]["samples"] == 24
    assert report["all"]["padded_fraction"] == pytest.approx(0.25)
    assert report["warm"]["padded_fraction"] == pytest.approx(0.25)
    # 4 warm batches of >= 10 ms each; the two 200 ms validations are not in it
    assert 0.04 <= report["warm"]["seconds"] < 0.2
    assert 0.02 <= report["warmup"]["seconds"] < 0.2
    assert report["warm"]["samples_per_s"] == pytest.approx(16 / report["warm"]["seconds"])
    assert report["peak_gpu_memory_gb"] is None
