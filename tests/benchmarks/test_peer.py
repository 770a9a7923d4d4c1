"""benchmarks/peer.py: settings, ratios and the report (no timing asserts), and a tiny end-to-end
run of textlab, the Hugging Face Trainer and the bare loop on the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import peer


def fake_run(system: str, seed: int, wall: float, speed: float, auc: float) -> dict:
    return {
        "system": system,
        "seed": seed,
        "wall_s": wall,
        "train_samples_per_s": speed,
        "test_auc_macro": auc,
        "val_auc_macro": auc - 0.01,
        "best_epoch": 2,
        "load_average": [1.0, 1.5],
    }


def test_quick_fills_only_what_is_left_to_the_config() -> None:
    quick = peer.PeerSettings(quick=True, max_length=96).resolved()
    assert (quick.max_length, quick.epochs, quick.max_train_rows) == (96, 1, 640)
    assert "data.max_length=96" in quick.overrides(7) and "seed=7" in quick.overrides(7)
    full = peer.PeerSettings().resolved()
    assert full.overrides(42) == ["seed=42"]  # the default job: the config's own values


def test_summary_means_and_ratios_against_each_peer() -> None:
    runs = [
        fake_run("textlab", 1, 300.0, 30.0, 0.97),
        fake_run("hf_trainer", 1, 360.0, 25.0, 0.96),
        fake_run("bare", 1, 250.0, 31.0, 0.97),
        fake_run("textlab", 2, 320.0, 32.0, 0.98),
        fake_run("hf_trainer", 2, 380.0, 27.0, 0.96),
        fake_run("bare", 2, 270.0, 33.0, 0.97),
    ]
    summary = peer.summarize(runs)
    textlab = summary["systems"]["textlab"]
    assert textlab["wall_s"] == pytest.approx(310.0) and textlab["runs"] == 2
    assert textlab["test_auc_macro_sd"] == pytest.approx(0.00707, abs=1e-5)
    versus_hf = summary["ratios"]["textlab_vs_hf_trainer"]
    assert versus_hf["speedup"] == pytest.approx(370.0 / 310.0)
    assert versus_hf["train_samples_per_s"] == pytest.approx(31.0 / 26.0)
    assert versus_hf["test_auc_difference"] == pytest.approx(0.015)
    assert summary["ratios"]["textlab_vs_bare"]["wall_s"] == pytest.approx(310.0 / 260.0)
    report = {"settings": vars(peer.PeerSettings(quick=True).resolved()), "runs": runs, **summary}
    text = "\n".join(peer.markdown(report))
    row = "| hf_trainer | 370.0 (370.0) | 26.00 (26.00) | 0.9600 ± 0.0000 | 0.9500 | 2, 2 |"
    assert row in text
    assert "| hf_trainer | 0.838 | 1.19x | 1.192 | 0.0150 |" in text
    assert versus_hf["speedup_per_seed"] == {"1": 1.2, "2": pytest.approx(380.0 / 320.0)}
    assert "seed 1 1.20x, seed 2 1.19x; mean 1.19x." in text


def test_committed_rows_re_render_the_same_report(tmp_path: Path) -> None:
    runs = [
        fake_run("textlab", 1, 300.0, 30.0, 0.97),
        fake_run("hf_trainer", 1, 450.0, 20.0, 0.97),
        fake_run("hf_trainer", 2, 500.0, 19.0, 0.96),
        fake_run("textlab", 2, 310.0, 29.0, 0.975),
    ]
    report = {"settings": vars(peer.PeerSettings()), "machine": {"cpu": "x"}, "runs": runs}
    rows = peer.rows_of({**report, **peer.summarize(runs)})
    assert {"date", "commit", "machine", "command"} <= set(rows[0])
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    again = peer.report_from_rows(path)
    assert again["settings"]["seeds"] == "1,2" and again["ratios"] == peer.summarize(runs)["ratios"]
    path.write_text("")
    with pytest.raises(SystemExit, match="no rows"):
        peer.report_from_rows(path)


@pytest.mark.slow
def test_quick_mode_runs_all_three_on_the_tiny_model(tmp_path: Path) -> None:
    """Each system in its own process on the tiny BERT: a few rows, one epoch."""
    pytest.importorskip("accelerate", reason="the Trainer needs the bench group (make bench-env)")
    out = tmp_path / "out"
    peer.main(
        [
            "--quick",
            "--backbone=tiny_bert",
            "--data=jigsaw_sample",
            "--max-length=32",
            "--max-train-rows=96",
            "--max-test-rows=64",
            "--threads=1",
            f"--work-dir={tmp_path / 'work'}",
            f"--out={out}",
        ]
    )
    report = json.loads((out / "peer.json").read_text())
    assert set(report["systems"]) == set(peer.SYSTEMS)
    for system, figures in report["systems"].items():
        assert figures["wall_s"] > 0 and figures["train_samples_per_s"] > 0, system
        assert 0 <= figures["test_auc_macro"] <= 1, system
    runs = {r["system"]: r for r in report["runs"]}
    # the same rows: the Trainer saw the DataModule's splits
    assert runs["hf_trainer"]["rows"]["test"] == 64
    assert runs["hf_trainer"]["recipe"] == runs["bare"]["recipe"]
    assert runs["hf_trainer"]["recipe"]["max_length"] == 32
    assert set(report["ratios"]) == {"textlab_vs_hf_trainer", "textlab_vs_bare"}
    assert "| textlab vs |" in (out / "peer.md").read_text()
