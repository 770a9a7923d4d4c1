"""The results CSV: one row per run (success or failure) under a fixed header, safe under
parallel appends; base-vs-tuned metrics in the summary and the row."""

from __future__ import annotations

import csv
import json
import multiprocessing
from pathlib import Path

import pytest

from src.errors import TextlabError
from src.runs.results import COLUMNS, append_result
from src.train import train


def _append_many(path: str, worker: int, rows: int) -> None:
    for i in range(rows):
        row = dict.fromkeys(COLUMNS, "")
        row.update(status="success", run_dir=f"w{worker}-r{i}", error="x" * 2000)
        append_result(path, row)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_parallel_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(str(path), w, 25)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    rows = read_rows(path)
    assert len(rows) == 100 and path.read_text().count("timestamp,status") == 1
    assert {row["run_dir"] for row in rows} == {f"w{w}-r{i}" for w in range(4) for i in range(25)}
    assert all(row["error"] == "x" * 2000 for row in rows)


def test_success_and_failure_rows_with_base_vs_tuned(make_cfg, tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    ok = make_cfg(
        "callbacks.base_vs_tuned.enabled=true",
        "analyses=false",
        f"results_file={results}",
        run_dir=tmp_path / "ok",
    )
    summary = train(ok)
    metrics = summary["metrics"]
    for key in ("auc_macro", "f1_macro", "f1_micro"):
        gain = metrics[f"test/{key}"] - metrics[f"base/test/{key}"]
        assert metrics[f"improvement/test/{key}"] == pytest.approx(gain)
    assert "base/test/auc/toxic" in metrics and "improvement/test/auc/toxic" not in metrics
    bad = make_cfg("model.pooling=bogus", f"results_file={results}", run_dir=tmp_path / "bad")
    with pytest.raises(TextlabError):
        train(bad)

    success, failure = read_rows(results)
    assert list(success) == COLUMNS
    assert success["status"] == "success" and success["error"] == ""
    assert success["run_dir"] == str(tmp_path / "ok")
    assert (success["data"], success["backbone"], success["pooling"]) == (
        "jigsaw_sample",
        "tiny_bert",
        "cls",
    )
    assert (success["seed"], success["max_length"], success["lr"]) == ("42", "32", "5e-05")
    assert float(success["val_objective"]) == pytest.approx(metrics["val/auc_macro"])
    tuned = json.loads(success["test_metrics"])
    assert tuned["test/auc_macro"] == pytest.approx(metrics["test/auc_macro"])
    assert set(json.loads(success["base_test_metrics"])) == set(tuned)
    assert set(json.loads(success["improvement"])) == set(tuned)
    assert failure["status"] == "failed" and failure["pooling"] == "bogus"
    assert failure["error"].startswith("unknown model.pooling 'bogus'")
    assert json.loads(failure["test_metrics"]) == {}


def test_results_file_null_switches_it_off(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from src.runs.results import record_result

    cfg = OmegaConf.create({"results_file": None, "paths": {"output_dir": str(tmp_path)}})
    assert record_result(cfg, {"status": "success", "metrics": {}}) is None
    cfg.results_file = str(tmp_path / "r.csv")
    assert record_result(cfg, error=ValueError("boom")) == tmp_path / "r.csv"
    (row,) = read_rows(tmp_path / "r.csv")
    assert row["status"] == "failed" and row["error"] == "ValueError: boom"
