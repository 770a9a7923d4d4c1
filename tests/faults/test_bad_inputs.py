"""Data files a user gets wrong in ways the readers used to misreport: a folder or a looping
link named like the data file, a .csv beside a different .csv.gz, a bare carriage return in a
text, a label no training row has; and sweeps whose jobs never started."""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path

import pytest
import yaml

from src.data.readers.files import path_problem
from src.data.readers.jigsaw import JIGSAW_LABELS, read_labelled_csv, resolve_data_file
from src.errors import TextlabError
from src.report.runs import load_runs

HEADER = "id,comment_text," + ",".join(JIGSAW_LABELS)


def test_a_folder_named_like_the_data_file_is_called_a_folder(tmp_path: Path) -> None:
    (tmp_path / "train.csv").mkdir()
    with pytest.raises(TextlabError, match=r"train.csv is a folder, not a file\. Set data"):
        resolve_data_file(tmp_path, "train.csv")


def test_a_looping_link_is_called_a_loop(tmp_path: Path) -> None:
    os.symlink("train.csv", tmp_path / "train.csv")
    with pytest.raises(TextlabError, match=r"train.csv is a symbolic link that loops"):
        resolve_data_file(tmp_path, "train.csv")


def test_a_dangling_link_names_its_target(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone.csv", tmp_path / "train.csv")
    assert path_problem(tmp_path / "train.csv") == (
        f"is a symbolic link to {tmp_path / 'gone.csv'}, which does not exist"
    )


def test_csv_and_gz_with_different_rows_are_refused(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(f"{HEADER}\na,new text,0,0,0,0,0,0\n")
    old = f"{HEADER}\na,old,1,0,0,0,0,0\n".encode()
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress(old))
    with pytest.raises(TextlabError, match="both train.csv and train.csv.gz, with different"):
        resolve_data_file(tmp_path, "train.csv")
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress((tmp_path / "train.csv").read_bytes()))
    assert resolve_data_file(tmp_path, "train.csv") == tmp_path / "train.csv"


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_bare_carriage_return_stays_in_its_text(
    tmp_path: Path, line_end: str, suffix: str
) -> None:
    rows = [HEADER, "a,first line\rsecond line,1,0,0,0,0,0", "b,plain,0,0,0,0,0,1"]
    data = (line_end.join(rows) + line_end).encode()
    path = tmp_path / f"train{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    frame = read_labelled_csv(path, "comment_text", JIGSAW_LABELS, "id")
    assert frame["comment_text"].tolist() == ["first line\rsecond line", "plain"]
    assert frame["toxic"].tolist() == [1, 0] and frame["identity_hate"].tolist() == [0, 1]


def test_a_label_without_positive_training_rows_is_warned_about(
    make_cfg, caplog: pytest.LogCaptureFixture
) -> None:
    from src.config import build_datamodule

    cfg = make_cfg("data.max_train_rows=40")
    datamodule = build_datamodule(cfg.data)
    with caplog.at_level(logging.WARNING, logger="src.data.sequence"):
        datamodule.setup("fit")
    absent = [name for name, n in zip(JIGSAW_LABELS, datamodule.pos_counts, strict=True) if not n]
    assert absent, "the first 40 rows should miss some label"
    warning = next(r.getMessage() for r in caplog.records if "no training row" in r.getMessage())
    assert all(name in warning for name in absent)


def _job(sweep: Path, number: int, overrides: list[str], summary: dict | None) -> None:
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if summary is not None:
        (job / "metrics.json").write_text(json.dumps(summary))


def test_compare_lists_jobs_that_never_finished_or_never_started(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    multirun = {
        "hydra": {
            "sweeper": {
                "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                "max_batch_size": None,
                "params": None,
            },
            "overrides": {"task": ["seed=1,2,3,4", "model=cls_pooler"]},
        }
    }
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(multirun))
    ok = {"status": "success", "metrics": {"test/auc_macro": 0.9}}
    _job(sweep, 0, ["seed=1", "model=cls_pooler"], ok)
    killed = {"status": "running", "pid": 2**22 + 12345, "host": os.uname().nodename}
    _job(sweep, 1, ["seed=2", "model=cls_pooler"], {**killed, "metrics": {}})
    _job(sweep, 2, ["seed=3", "model=cls_pooler"], None)
    runs = load_runs(sweep).set_index("seed")
    assert runs.loc["1", "status"] == "success"
    assert runs.loc["2", "status"] == "interrupted"
    assert runs.loc["3", "status"] == "unfinished"
    assert runs.loc["4", "status"] == "not started" and runs.loc["4", "job"] == "3"
    assert runs.loc["4", "cell"] == runs.loc["1", "cell"]
