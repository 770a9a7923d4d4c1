"""GoEmotions: the shipped official split, its validation, and a tiny end-to-end run."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from src.config import build_datamodule
from src.data.readers.goemotions import read_goemotions_split, read_label_names
from src.errors import TextlabError
from src.train import train
from tests.conftest import ROOT

DATA = ROOT / "data" / "goemotions"


def test_shipped_files_have_the_official_counts() -> None:
    names = read_label_names(DATA / "emotions.txt")
    assert len(names) == 28 and names[0] == "admiration" and names[27] == "neutral"
    sizes = {}
    for split in ("train", "dev", "test"):
        texts, labels, ids = read_goemotions_split(DATA / f"{split}.tsv.gz", 28)
        sizes[split] = len(texts)
        assert labels.shape == (len(texts), 28) and len(set(ids)) == len(ids)
        assert (labels.sum(axis=1) >= 1).all()
        if split == "train":
            assert labels[:, 27].sum() == 14219  # neutral, as counted in SOURCE.md
            assert (labels.sum(axis=1) > 1).sum() == 7102  # multi-label rows
    assert sizes == {"train": 43410, "dev": 5426, "test": 5427}


def write_tsv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["good day\t0\ta1", "bad\t30\ta2"], r"data row 2 \(id 'a2'\) has labels '30'"),
        (["good day\t0\ta1", "bad\tx,1\ta2"], "has labels 'x,1'"),
        (["good day\t0\ta1", "   \t1\ta2"], "empty text"),
        (["good day\t0\ta1", "again\t1\ta1"], "duplicate id"),
    ],
)
def test_bad_rows_name_the_row(tmp_path: Path, rows: list[str], message: str) -> None:
    with pytest.raises(TextlabError, match=message):
        read_goemotions_split(write_tsv(tmp_path / "train.tsv", rows), 28)


def test_missing_file_says_which_key_to_set(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("data=goemotions", f"data.data_dir={tmp_path}")
    with pytest.raises(TextlabError, match=r"emotions.txt\(.gz\) not found .*data.data_dir"):
        build_datamodule(cfg.data)


def test_official_dev_split_is_the_validation_set(make_cfg) -> None:
    cfg = make_cfg(
        "data=goemotions",
        "data.max_train_rows=300",
        "data.max_val_rows=80",
        "data.max_test_rows=50",
    )
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    with gzip.open(DATA / "dev.tsv.gz", "rt", encoding="utf-8") as handle:
        dev_ids = {line.rstrip("\n").split("\t")[-1] for line in handle}
    assert len(datamodule.val_ids) == 80 and set(datamodule.val_ids) <= dev_ids
    assert len(datamodule.train_ids) == 300 and not set(datamodule.train_ids) & dev_ids
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["labels"].shape[1] == 28
    assert np.isin(batch["labels"].numpy(), [0.0, 1.0]).all()


def test_tiny_goemotions_run(make_cfg) -> None:
    cfg = make_cfg(
        "data=goemotions",
        "data.max_train_rows=200",
        "data.max_val_rows=100",
        "data.max_test_rows=100",
    )
    summary = train(cfg)
    assert "test/f1/neutral" in summary["metrics"]
    assert 0.0 <= summary["metrics"]["test/f1_micro"] <= 1.0
