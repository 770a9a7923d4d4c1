"""The benchmark's report structure and ratios (no timing asserts), and a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks import bench
from benchmarks.common import BenchSettings
from benchmarks.report import comparisons, markdown
from benchmarks.training import pad_to

RESULTS = {
    "loop": {
        "bare": {"samples_per_s": 100.0, "peak_rss_mb": 900.0, "repeats": [99.0, 100.0]},
        "lightning": {"samples_per_s": 96.0, "peak_rss_mb": 950.0, "repeats": [96.0, 90.0]},
    },
    "padding": {
        k: {
            "padded_fraction": f,
            "mean_batch_width": w,
            "epoch_s_extrapolated": t,
            "peak_rss_mb": 1.0,
        }
        for k, f, w, t in [
            ("pad_to_max_length", 0.7, 256.0, 300.0),
            ("dynamic", 0.4, 150.0, 180.0),
            ("dynamic_bucketed", 0.05, 80.0, 100.0),
        ]
    },
    "tokenization": {
        "cold": {"prepare_data_s": 10.0, "tokenize_s": 9.0, "rows": 5, "peak_rss_mb": 1.0},
        "cached": {"prepare_data_s": 0.4, "tokenize_s": 0.1, "rows": 5, "peak_rss_mb": 1.0},
    },
    "inference": {
        "eager_fp32": {"samples_per_s": 50.0, "peak_rss_mb": 1.0},
        "onnx_int8": {"samples_per_s": 150.0, "peak_rss_mb": 1.0},
    },
}


def test_comparisons_are_ratios_against_the_goals() -> None:
    result = comparisons(RESULTS)
    assert result["lightning_vs_bare"] == {
        "ratio": 0.96,
        "measure": "samples_per_s",
        "fastest_runs_ratio": 0.96,
        "goal": ">= 0.95",
        "met": True,
    }
    padding = result["padding_speedup_vs_pad_to_max"]
    assert padding["dynamic_bucketed"] == pytest.approx(3.0) and padding["met"]
    assert result["cached_vs_cold"]["prepare_data"] == pytest.approx(0.04)
    assert result["cached_vs_cold"]["met"]
    assert result["inference_speedup_vs_eager_fp32"]["onnx_int8"] == pytest.approx(3.0)
    slow_lightning = {**RESULTS, "loop": {**RESULTS["loop"]}}
    slow_lightning["loop"]["lightning"] = {**RESULTS["loop"]["lightning"], "samples_per_s": 90.0}
    assert not comparisons(slow_lightning)["lightning_vs_bare"]["met"]


def test_loops_compare_on_each_steps_fastest_time_over_their_runs() -> None:
    """One disturbed stretch in one run must not decide the ratio: each step keeps its fastest
    time over a loop's runs (all runs train on the same batches)."""
    merged = None
    for seconds, steps in ((4.0, [2.0, 2.0]), (3.5, [1.5, 2.0]), (5.0, [3.0, 2.0])):
        run = {"samples_per_s": 8 / seconds, "step_seconds": steps, "batch_size": 4}
        merged = bench._best(merged, run)
    assert merged["repeats"] == [2.0, 8 / 3.5, 1.6]
    assert merged["samples_per_s"] == 8 / 3.5  # the fastest whole run
    assert merged["step_runs"] == [[2.0, 2.0], [1.5, 2.0], [3.0, 2.0]]
    assert merged["step_min_samples_per_s"] == pytest.approx(8 / 3.5)
    disturbed = {"samples_per_s": 8 / 3.0, "step_min_samples_per_s": 8 / 3.0}
    steady = {"samples_per_s": 8 / 5.0, "step_min_samples_per_s": 8 / 3.2}
    ratio = comparisons({"loop": {"lightning": steady, "bare": disturbed}})["lightning_vs_bare"]
    assert ratio["measure"] == "step_min_samples_per_s"
    assert ratio["ratio"] == pytest.approx(3.0 / 3.2) and not ratio["met"]
    assert ratio["fastest_runs_ratio"] == pytest.approx(3.0 / 5.0)
    loops = [c for c in bench.plan(BenchSettings(loop_repeats=3)) if c[0] == "loop"]
    assert [c[1] for c in loops] == ["bare", "lightning"] * 3


def test_markdown_has_a_table_per_comparison() -> None:
    report = {
        "results": RESULTS,
        "comparisons": comparisons(RESULTS),
        "settings": BenchSettings().to_dict(),
        "machine": {"cpu_model": "cpu", "nproc": 2, "torch": "2.13"},
        "load_average": [1.0, 2.0],
        "wall_s": 12.0,
    }
    text = markdown(report)
    for title in (
        "## 1. Training loop",
        "## 2. Padding",
        "## 3. Data preparation",
        "## 4. Inference",
        "## 5. Peak memory",
    ):
        assert title in text
    assert "Lightning / bare = **0.960**" in text
    assert "| dynamic_bucketed | 5.0% | 80.00 | 100.00 | 3.00 | 1.00 |" in text


def test_pad_to_max_length() -> None:
    batch = {
        "input_ids": torch.tensor([[5, 6], [7, 0]]),
        "attention_mask": torch.tensor([[1, 1], [1, 0]]),
        "labels": torch.zeros(2, 1),
    }
    padded = pad_to(batch, 4, pad_id=0)
    assert padded["input_ids"].tolist() == [[5, 6, 0, 0], [7, 0, 0, 0]]
    assert padded["attention_mask"].sum().item() == 3


@pytest.mark.slow
def test_tiny_bench_writes_json_and_markdown(tmp_path: Path) -> None:
    """Every case end to end on the tiny model, in this process (no subprocesses)."""
    settings = BenchSettings(
        backbone="tiny_bert",
        data="jigsaw_sample",
        warmup_steps=1,
        train_steps=2,
        padding_batches=1,
        infer_batches=1,
        train_max_length=32,
        padding_max_length=64,
        infer_max_length=32,
        peer="off",  # tests/benchmarks/test_peer.py runs it
        work_dir=str(tmp_path / "work"),
    )
    report = bench.run_all(settings, tmp_path / "out", isolate=False)
    saved = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert (
        saved["comparisons"].keys()
        == report["comparisons"].keys()
        == {
            "lightning_vs_bare",
            "padding_speedup_vs_pad_to_max",
            "cached_vs_cold",
            "inference_speedup_vs_eager_fp32",
        }
    )
    assert set(saved["results"]["inference"]) == {
        "eager_fp32",
        "eager_bf16",
        "onnx_fp32",
        "onnx_int8",
    }
    assert saved["results"]["tokenization"]["cached"]["cache_hits"] == {"train": True, "test": True}
    assert len(saved["results"]["loop"]["lightning"]["repeats"]) == 3  # loop_repeats
    assert "step_min_samples_per_s" in saved["results"]["loop"]["lightning"]
    assert "## 2. Padding" in (tmp_path / "out" / "bench.md").read_text()


def test_mfu_counts_the_textbook_flops_and_compares_loops(tmp_path: Path) -> None:
    from benchmarks import mfu

    settings = mfu.MfuSettings(
        backbone="tiny_bert",
        shapes="4x16",
        minilm=False,
        loops="textlab,bare_eager,bare_sdpa",
        warmup_steps=1,
        steps=2,
        peak_tflops=1.0,
        work_dir=str(tmp_path / "work"),
    )
    mfu.main(
        [f"--{k.replace('_', '-')}={v}" for k, v in vars(settings).items()]
        + [f"--out={tmp_path / 'out'}"]
    )
    report = json.loads((tmp_path / "out" / "mfu.json").read_text())
    results = {r["loop"]: r for r in report["results"]}
    assert set(results) == {"textlab", "bare_eager", "bare_sdpa"}
    for result in results.values():
        # the counter sees every Linear and the attention products: the analytic count exactly
        assert result["step_gflops"] == pytest.approx(result["analytic_step_gflops"], rel=1e-6)
        assert result["mfu"] == pytest.approx(result["achieved_tflops"] / 1.0)
        assert result["samples_per_s"] > 0 and result["peak_gpu_memory_gb"] is None
        assert result["device"] == mfu.machine()["cpu_model"]
    best_bare = max(results["bare_eager"]["samples_per_s"], results["bare_sdpa"]["samples_per_s"])
    expected = results["textlab"]["samples_per_s"] / best_bare
    assert results["textlab"]["ratio_to_best_bare"] == pytest.approx(expected)
    assert "| MFU |" in (tmp_path / "out" / "mfu.md").read_text()
    assert mfu.peak_tflops(mfu.MfuSettings(), "NVIDIA H100 80GB HBM3") == 989.4
    assert mfu.peak_tflops(mfu.MfuSettings(), "NVIDIA H100 PCIe") == 756.0
    assert mfu.peak_tflops(mfu.MfuSettings(), "Some CPU") is None
