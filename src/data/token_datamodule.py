"""LightningDataModule for token classification: VUA metaphor (0/1 per word), WNUT-17 (BIO).

Reads the official train/val/test files, takes seeded subsets, tokenises the words once
(``is_split_into_words``, first sub-token labelled) and pads per batch. Tokenising a whole
split takes about a second with a fast tokenizer, so there is no disk cache.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from src.data.distributed import eval_sampler
from src.data.raw_split import RawSplit
from src.data.readers.conll import read_conll
from src.data.readers.tagged import TaggedSentence
from src.data.readers.vua import read_vua_split
from src.data.token_alignment import encode_sentences
from src.data.token_collate import TaggedDataset, TaggingCollator
from src.data.token_labels import tag_names, validate_tags
from src.metrics.token import SCHEMES
from src.utils.errors import TextlabError

log = logging.getLogger(__name__)
READERS = {"conll": read_conll, "vua": read_vua_split}
SPLITS = ("train", "val", "test")


def _check_int(value: int | None, key: str, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TextlabError(f"{key} must be an integer >= {minimum}, got {value!r}")


def subsample(rows: list[TaggedSentence], max_rows: int | None, seed: int) -> list:
    """A seeded random subset, kept in file order."""
    if max_rows is None or max_rows >= len(rows):
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=max_rows, replace=False))
    return [rows[i] for i in keep]


class TokenDataModule(L.LightningDataModule):
    """Tagged sentences from ``data_dir`` in ``file_format`` (``conll`` or ``vua``).

    ``scheme``: ``bio`` (tags read from the train file, ``O`` first) or ``binary`` (``0``/``1``).
    The first label name is the default tag, predicted for words cut off by ``max_length``.
    """

    def __init__(
        self,
        data_dir: str,
        *,
        tokenizer,
        file_format: str,
        scheme: str,
        train_file: str,
        val_file: str,
        test_file: str,
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        seed: int = 42,
        num_workers: int = 0,
        max_train_rows: int | None = None,
        max_val_rows: int | None = None,
        max_test_rows: int | None = None,
    ) -> None:
        super().__init__()
        if file_format not in READERS:
            raise TextlabError(
                f"data.file_format must be one of {sorted(READERS)}, got {file_format!r}"
            )
        if scheme not in SCHEMES:
            raise TextlabError(f"data.scheme must be one of {list(SCHEMES)}, got {scheme!r}")
        self.data_dir = Path(data_dir)
        self.tokenizer = tokenizer
        self.file_format = file_format
        self.scheme = scheme
        self.files = {"train": train_file, "val": val_file, "test": test_file}
        self.max_length = max_length
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.limits = {"train": max_train_rows, "val": max_val_rows, "test": max_test_rows}
        self._rows: dict[str, list[TaggedSentence]] = {}
        self._label_names: list[str] | None = None
        self.datasets: dict[str, TaggedDataset] = {}
        #: split -> words cut off by max_length (scored as the default tag)
        self.words_cut: dict[str, int] = {}

    # -- reading ------------------------------------------------------------------------
    def data_files(self) -> list[Path]:
        return [self.data_dir / self.files[split] for split in SPLITS]

    def _read(self, split: str) -> list[TaggedSentence]:
        path = self.data_dir / self.files[split]
        if not self.data_dir.is_dir():
            raise TextlabError(
                f"data folder {self.data_dir} not found; set data.data_dir (research-only sets "
                "are read from paths.external_data_dir: set TEXTLAB_DATA_DIR)"
            )
        return READERS[self.file_format](path)

    def prepare_data(self) -> None:
        """Check the settings, read and validate every split (cheap; before the model)."""
        _check_int(self.max_length, "data.max_length", 3)
        _check_int(self.batch_size, "data.batch_size", 1)
        _check_int(self.eval_batch_size, "data.eval_batch_size", 1)
        _check_int(self.num_workers, "data.num_workers", 0)
        for split in SPLITS:
            _check_int(self.limits[split], f"data.max_{split}_rows", 1, optional=True)
        if not getattr(self.tokenizer, "is_fast", False):
            raise TextlabError(
                "token tasks need a fast tokenizer (word_ids); pick another backbone"
            )
        TaggingCollator(self.tokenizer.pad_token_id)
        full = {split: self._read(split) for split in SPLITS}
        self._label_names = tag_names(full["train"], self.scheme, self.data_files()[0])
        for split in SPLITS:
            validate_tags(full[split], self._label_names, self.data_files()[SPLITS.index(split)])
            self._rows[split] = subsample(full[split], self.limits[split], self.seed)

    def _ensure_read(self) -> None:
        if self._label_names is None:
            self.prepare_data()

    @property
    def label_names(self) -> list[str]:
        self._ensure_read()
        return list(self._label_names)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def raw_split(self, split: str) -> RawSplit:
        """The split's sentences (subsets included) as word lists and tag lists."""
        if split not in SPLITS:
            raise TextlabError(f"split must be one of {list(SPLITS)}, got {split!r}")
        self._ensure_read()
        rows = self._rows[split]
        return RawSplit(
            [list(r.words) for r in rows], [list(r.tags) for r in rows], self.label_names
        )

    # -- tensors ------------------------------------------------------------------------
    def _dataset(self, split: str) -> TaggedDataset:
        if split not in self.datasets:
            self._ensure_read()
            rows = self._rows[split]
            ids = {name: i for i, name in enumerate(self._label_names)}
            encoded = encode_sentences(
                self.tokenizer,
                [r.words for r in rows],
                [[ids[t] for t in r.tags] for r in rows],
                self.max_length,
            )
            cut = sum(s.words_cut for s in encoded)
            self.words_cut[split] = cut
            if cut:
                total = sum(len(r.words) for r in rows)
                log.warning(
                    "%s: %d of %d words (%.2f %%) lie beyond data.max_length=%d; they are "
                    "scored as %r (raise max_length to predict them)",
                    split,
                    cut,
                    total,
                    100 * cut / total,
                    self.max_length,
                    self._label_names[0],
                )
            self.datasets[split] = TaggedDataset(encoded)
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate"):
            self._dataset("train")
            self._dataset("val")
        if stage in (None, "test", "predict"):
            self._dataset("test")

    @property
    def train_dataset(self) -> TaggedDataset | None:
        return self.datasets.get("train")

    @property
    def val_dataset(self) -> TaggedDataset | None:
        return self.datasets.get("val")

    @property
    def test_dataset(self) -> TaggedDataset | None:
        return self.datasets.get("test")

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = self._dataset(split)
        # evaluation under DDP: disjoint shards, no padded repeats (the collector gathers them)
        sampler = None if shuffle else eval_sampler(dataset, self.trainer)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=TaggingCollator(self.tokenizer.pad_token_id),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, False)
