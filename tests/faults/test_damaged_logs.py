"""Shared files under logs/ that another run, a crash or a careless edit damaged: the results
CSV, another run's metrics.json or config.yaml. A run never fails for them after training, and
``latest`` passes over run folders it cannot read, saying so in one line."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from src.runs.folder import read_json_file
from src.runs.loading import resolve_checkpoint
from src.runs.results import COLUMNS, record_result

HEADER = ",".join(COLUMNS)
DAMAGES = {
    "binary": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe",
    "NUL bytes": b"\0" * 100_000,
    "latin-1 header": HEADER.replace("error", "err\xe9ur").encode("latin-1") + b"\r\n",
    "another header": b"when,what\r\n2020,x\r\n",
    "one endless line": b"x" * 200_000,
}


def results_rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_results_csv_costs_the_run_nothing(
    make_cfg, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    cfg = make_cfg()
    results = Path(cfg.results_file)
    results.parent.mkdir(parents=True)
    results.write_bytes(DAMAGES[damage])
    summary = {"status": "success", "metrics": {"test/auc_macro": 0.75}}
    with caplog.at_level(logging.WARNING, logger="src.runs.results"):
        written = record_result(cfg, summary)
    spare = results.with_name("results.1.csv")
    assert written == spare
    assert results.read_bytes() == DAMAGES[damage]  # left as it was
    rows = results_rows(spare)
    assert rows[0] == HEADER and len(rows) == 2 and ",success," in rows[1]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and f"this run's row went to {spare}" in warnings[0]
    assert len(warnings[0]) < 400
    record_result(cfg, summary)  # the next run appends to the same spare file
    assert len(results_rows(spare)) == 3


def test_a_folder_named_results_csv_costs_the_run_nothing(make_cfg) -> None:
    cfg = make_cfg()
    Path(cfg.results_file).mkdir(parents=True)
    written = record_result(cfg, {"status": "success", "metrics": {}})
    assert written is not None and written.name == "results.1.csv"


def test_a_row_cut_short_by_a_crash_keeps_the_next_row_whole(make_cfg) -> None:
    cfg = make_cfg()
    results = Path(cfg.results_file)
    results.parent.mkdir(parents=True)
    results.write_text(f"{HEADER}\r\n2024-01-01T00:00:00+00:00,succ", encoding="utf-8")
    assert record_result(cfg, {"status": "success", "metrics": {}}) == results
    rows = results_rows(results)
    assert len(rows) == 3 and rows[1].endswith(",succ") and ",success," in rows[2]


@pytest.mark.slow  # trains the tiny model (~20 s)
def test_a_training_run_succeeds_beside_a_damaged_results_csv(make_cfg) -> None:
    from src.train import train

    cfg = make_cfg("trainer.max_epochs=1", "analyses=false")
    results = Path(cfg.results_file)
    results.parent.mkdir(parents=True)
    results.write_bytes(DAMAGES["binary"])
    summary = train(cfg)
    assert summary["status"] == "success"
    assert ",success," in results_rows(results.with_name("results.1.csv"))[1]


def finished_run(log_dir: Path, name: str, age_s: float) -> Path:
    """A run folder that ``latest`` counts as finished, last written ``age_s`` ago."""
    folder = log_dir / "train" / "runs" / name
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "best.ckpt").write_bytes(b"weights")
    (folder / "config.yaml").write_text("model: {}\n")
    (folder / "metrics.json").write_text(json.dumps({"status": "success", "metrics": {}}))
    when = (folder / "metrics.json").stat().st_mtime - age_s
    os.utime(folder / "metrics.json", (when, when))
    return folder


@pytest.mark.parametrize(
    ("damaged_file", "content"),
    [
        ("metrics.json", b"[1, 2, 3]"),
        ("metrics.json", b"\xff\xfe\0\0"),
        ("metrics.json", b'"success"'),
        ("config.yaml", b"model: [unclosed\n"),
        ("config.yaml", b"\0\0\0"),
        ("config.yaml", b"- a list\n"),
    ],
)
def test_latest_passes_over_a_run_folder_it_cannot_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damaged_file: str, content: bytes
) -> None:
    good = finished_run(tmp_path, "older", age_s=60)
    newer = finished_run(tmp_path, "newer", age_s=0)
    (newer / damaged_file).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="src.runs.loading"):
        assert resolve_checkpoint("latest", tmp_path) == good / "checkpoints" / "best.ckpt"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("latest: passed over 1 run folder(s) that cannot be read (")
    assert str(newer) in warnings[0] and damaged_file in warnings[0]


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"\xff", b"{" * 100_000])
def test_a_run_folder_json_file_that_is_not_an_object_reads_as_missing(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "run_info.json"
    path.write_bytes(content)
    assert read_json_file(path) is None
