"""The inference benchmark end to end on the tiny model: every backend's served share of its
batch throughput, what batch-mates do to a text, and the record ``auto`` reads (no timing
asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import inference
from src.deploy.backends import BATCH_TOLERANCE, PROB_TOLERANCE, choose_backend


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inference")
    inference.main(
        [
            "--backbone", "tiny_bert", "--data", "jigsaw_sample", "--max-length", "32",
            "--batch-size", "8", "--batches", "1", "--rounds", "1", "--threads", "1",
            "--call-tokens", "64,256",
            "--work-dir", str(out / "work"), "--out", str(out), "--record", str(out / "rec.json"),
        ]
    )  # fmt: skip
    return out


def test_every_backend_reports_served_share_and_batch_mates(measured: Path) -> None:
    report = json.loads((measured / "inference.json").read_text())
    results = report["results"]
    assert set(results) == set(inference.BACKENDS)
    for name, result in results.items():
        assert result["served_vs_batch"] == pytest.approx(
            result["served_texts_per_s"] / result["samples_per_s"]
        )
        assert 0.0 <= result["max_abs_prob_diff_batch_mates"] <= BATCH_TOLERANCE, name
        assert set(result["served_by_call_tokens"]) == {"64", "256"}, name
    assert results["onnx-int8"]["max_abs_prob_diff_batch_mates"] == 0.0  # each text alone
    table = (measured / "inference.md").read_text()
    assert "served / batch" in table and "from batch-mates" in table and "| 256 tokens |" in table
    record = json.loads((measured / "rec.json").read_text())
    assert record["outside_tolerance"] == {
        n: r["max_abs_prob_diff_vs_fp32"]
        for n, r in results.items()
        if n != inference.ONNX_OPTIMIZED and r["max_abs_prob_diff_vs_fp32"] > PROB_TOLERANCE
    }


def test_auto_never_serves_a_backend_measured_outside_the_tolerance(
    measured: Path, tmp_path: Path
) -> None:
    report = json.loads((measured / "inference.json").read_text())
    faster = {**report["results"]["pytorch-bf16"], "served_texts_per_s": 1e9}
    report["results"]["pytorch-bf16"] = {**faster, "max_abs_prob_diff_vs_fp32": 0.05}
    inference.write_record(report, tmp_path / "rec.json")
    record = json.loads((tmp_path / "rec.json").read_text())
    assert record["outside_tolerance"] == {"pytorch-bf16": 0.05}
    backend, _ = choose_backend(["pytorch-fp32", "pytorch-bf16"], tmp_path / "rec.json")
    assert backend == "pytorch-fp32"
