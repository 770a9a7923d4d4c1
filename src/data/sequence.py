"""Text classification data: read -> validate -> split -> tokenise once -> batches.

Every sequence data set (multi-label Jigsaw and GoEmotions, multi-class emotion) keeps its
labels as a float32 ``[N, L]`` matrix: multi-hot with -1 for an unscored label, or one-hot for
single-label data sets (``single_label``), so the hold-out split, row subsets, token cache,
padding and samplers are shared. A data set plugs in by implementing ``read_train``,
``read_test`` and ``data_files`` (``src.data.datasets``).
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, RandomSampler

from src.config import DataSchema, validated
from src.data.batching import (
    BucketBatchSampler,
    PaddingCollator,
    TokenizedDataset,
    balanced_sampler,
    bucketing_settings,
    check_bucketing_with_sampler,
    eval_sampler,
    sampler_settings,
)
from src.data.splits import stratified_holdout
from src.data.token_cache import (
    LabelledTexts,
    cache_key,
    file_sha256,
    prepare_cached,
    tokenizer_identity,
)
from src.errors import TextlabError

log = logging.getLogger(__name__)

#: the splits the after-fit analyses predict, in the order ``predict_dataloader`` yields them
PREDICT_SPLITS = ("val", "test")


@dataclass
class RawSplit:
    """The rows a neural run sees for a split (subsets included), untokenised: for code that
    does not train a network (the baselines).

    ``texts``: one string per row (sequence tasks) or one word list per sentence (token tasks).
    ``labels``: float [N, L] multi-hot with -1 = unscored (multi-label), int [N] class ids
    (single-label), or one tag string per word (token tasks).
    """

    texts: list[Any]
    labels: np.ndarray | list[list[str]]
    label_names: list[str]


def one_hot(class_ids: np.ndarray, num_classes: int) -> np.ndarray:
    """float32 [N, C] with a 1 at each row's class id.

    Example:
        >>> one_hot(np.array([2, 0]), 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    out = np.zeros((len(class_ids), num_classes), dtype=np.float32)
    out[np.arange(len(class_ids)), np.asarray(class_ids, dtype=np.int64)] = 1.0
    return out


def _subsample(rows: LabelledTexts, max_rows: int | None, seed: int) -> LabelledTexts:
    """A seeded random subset in file order, for quick runs on a slice of the data."""
    n = len(rows.texts)
    if max_rows is None or max_rows >= n:
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
    return _take(rows, keep)


def _take(rows: LabelledTexts, index: np.ndarray) -> LabelledTexts:
    return LabelledTexts(
        [rows.texts[i] for i in index], rows.labels[index], [rows.ids[i] for i in index]
    )


class SequenceDataModule(L.LightningDataModule, ABC):
    """Shared machinery of text classification data sets (subclass and implement the readers).

    ``single_label`` data sets store one-hot rows; their ``raw_split`` gives class ids.
    """

    #: one label per row (multi-class): rows are one-hot, no row is unscored
    single_label: bool = False
    #: the splits ``predict_dataloader`` yields, in order
    predict_splits = PREDICT_SPLITS

    def __init__(
        self,
        *,
        tokenizer,
        label_columns: Sequence[str],
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        val_fraction: float = 0.1,
        seed: int = 42,
        num_workers: int = 0,
        cache_dir: str = ".cache/tokens",
        max_train_rows: int | None = None,
        max_test_rows: int | None = None,
        max_val_rows: int | None = None,
        drop_unscored_test_rows: bool = True,
        balanced_sampler: Mapping[str, Any] | None = None,
        bucketing: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.label_columns = [str(c) for c in label_columns]
        self.max_length = max_length
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.val_fraction = val_fraction
        self.seed = seed
        self.num_workers = num_workers
        self.cache_dir = cache_dir
        self.max_train_rows = max_train_rows
        self.max_test_rows = max_test_rows
        self.max_val_rows = max_val_rows
        self.drop_unscored_test_rows = drop_unscored_test_rows
        #: (target_rate, max_weight) of the balanced training sampler, or None (plain shuffle)
        self.balanced_sampler = sampler_settings(balanced_sampler)
        #: chunk_batches of length-bucketed training batches (src/data/batching.py), or None
        self.bucketing = bucketing_settings(bucketing)

        self.train_dataset: TokenizedDataset | None = None
        self.val_dataset: TokenizedDataset | None = None
        self.test_dataset: TokenizedDataset | None = None
        self.train_ids: list[str] = []
        self.val_ids: list[str] = []
        self.test_ids: list[str] = []
        self.pos_counts: np.ndarray | None = None
        self.prevalence: np.ndarray | None = None
        #: split name -> whether its token ids came from the disk cache (first load only)
        self.cache_hits: dict[str, bool] = {}
        self._rows: dict[str, LabelledTexts] = {}
        self._tokens: dict[str, list[list[int]]] = {}
        self._data_hash: str | None = None
        self._tokenizer_id: str | None = None

    # -- what a data set provides -------------------------------------------------------
    @abstractmethod
    def read_train(self) -> LabelledTexts:
        """All labelled training rows (validated; raise TextlabError on bad input)."""

    @abstractmethod
    def read_test(self) -> LabelledTexts:
        """All test rows with labels in {-1, 0, 1}."""

    @abstractmethod
    def data_files(self) -> list[Path]:
        """The files the rows come from: hashed into the cache key and the run record."""

    #: whether the data set has an official validation split (read_val); else a hold-out of train
    has_official_val: bool = False

    def read_val(self) -> LabelledTexts:
        """The official validation split (data sets with ``has_official_val``)."""
        raise NotImplementedError(f"{type(self).__name__} has no official validation split")

    def cache_tag(self) -> str:
        """What else the token ids and row selection depend on (columns, file layout)."""
        return type(self).__name__

    # -- public API ---------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return list(self.label_columns)

    @property
    def num_labels(self) -> int:
        return len(self.label_columns)

    def validate_inputs(self) -> None:
        """Check settings and read + validate every file; cheap to call before building a model."""
        settings = {
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "eval_batch_size": self.eval_batch_size,
            "num_workers": self.num_workers,
            "val_fraction": self.val_fraction,
            "max_train_rows": self.max_train_rows,
            "max_val_rows": self.max_val_rows,
            "max_test_rows": self.max_test_rows,
        }
        validated(OmegaConf.create(settings), DataSchema, "data")
        if not self.label_columns:
            raise TextlabError("data.label_columns is empty; list the label columns to train on.")
        self._tokenizer_key()  # fails clearly on a slow tokenizer
        PaddingCollator(self.tokenizer.pad_token_id)  # fails clearly without a pad token
        self._load("train")
        self._load("test")
        if self.has_official_val:
            self._load("val")

    def prepare_data(self) -> None:
        """Validate the inputs and fill the token cache (Lightning runs this on one process)."""
        self.validate_inputs()
        self._token_ids("train")
        self._token_ids("test")
        if self.has_official_val:
            self._token_ids("val")

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets the stage needs; calling it again does nothing."""
        if stage in (None, "fit", "validate") and self.train_dataset is None:
            self._build_train_val()
        if stage in (None, "test", "predict") and self.test_dataset is None:
            rows = self._load("test")
            self.test_ids = list(rows.ids)
            self.test_dataset = TokenizedDataset(self._token_ids("test"), rows.labels)

    def train_dataloader(self) -> DataLoader:
        dataset = self._require(self.train_dataset, "fit")
        balanced, bucketed = self.balanced_sampler is not None, self.bucketing is not None
        check_bucketing_with_sampler(self.trainer, balanced, bucketed)
        if balanced:
            sampler = balanced_sampler(dataset.labels, *self.balanced_sampler, seed=self.seed)
        elif bucketed:  # a RandomSampler, so Lightning shuffles the DistributedSampler under DDP
            sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(self.seed))
        else:
            return self._loader(dataset, self.batch_size, True)
        if not bucketed:
            return self._loader(dataset, self.batch_size, False, sampler=sampler)
        lengths = [len(ids) for ids in dataset.input_ids]
        batches = BucketBatchSampler(
            sampler, self.batch_size, False, lengths, self.bucketing, seed=self.seed
        )
        return self._loader(dataset, 1, False, batch_sampler=batches)

    def val_dataloader(self) -> DataLoader:
        dataset = self._require(self.val_dataset, "fit")
        return self._loader(
            dataset, self.eval_batch_size, False, eval_sampler(dataset, self.trainer)
        )

    def test_dataloader(self) -> DataLoader:
        dataset = self._require(self.test_dataset, "test")
        return self._loader(
            dataset, self.eval_batch_size, False, eval_sampler(dataset, self.trainer)
        )

    def predict_dataloader(self) -> list[DataLoader]:
        """Validation then test (``predict_splits``): what the after-fit analyses predict."""
        self.setup("fit")
        self.setup("test")
        return [self.val_dataloader(), self.test_dataloader()]

    def raw_split(self, split: str) -> RawSplit:
        """The untokenised rows the neural run uses for ``split`` (train/val/test), same order.

        For baselines: the seeded hold-out, row subsets and dropped unscored test rows are the
        ones ``setup`` applies; labels are float [N, L] with -1 = unscored, or int [N] class
        ids for single-label data sets.
        """
        if split not in ("train", "val", "test"):
            raise TextlabError(f"unknown split {split!r}; use train, val or test")
        if split == "test" or self.has_official_val:
            rows = self._load(split)
        else:  # validation is a hold-out of train: the same indices as _build_train_val
            rows = self._load("train")
            train_idx, val_idx = stratified_holdout(rows.labels, self.val_fraction, self.seed)
            rows = _take(rows, train_idx if split == "train" else val_idx)
        labels = rows.labels.copy()
        if self.single_label:
            labels = labels.argmax(axis=1).astype(np.int64)
        return RawSplit(list(rows.texts), labels, self.label_names)

    # -- internals ----------------------------------------------------------------------
    def _load(self, split: str) -> LabelledTexts:
        """The split's rows as read and validated: from the token cache when it holds them."""
        self._prepare(split)
        return self._rows[split]

    def _token_ids(self, split: str) -> list[list[int]]:
        self._prepare(split)
        return self._tokens[split]

    def _prepare(self, split: str) -> None:
        if split in self._rows:
            return
        limits = {"train": self.max_train_rows, "val": self.max_val_rows}
        tag = (
            f"{self.cache_tag()}|split={split}|rows={limits.get(split, self.max_test_rows)}"
            f"|seed={self.seed}|drop_unscored={self.drop_unscored_test_rows}"
        )
        key = cache_key(self._tokenizer_key(), self.max_length, self._hash_data(), tag)
        cached = prepare_cached(
            lambda: self._read_rows(split), self.tokenizer, self.max_length, self.cache_dir, key
        )
        self._rows[split], self._tokens[split] = cached.rows, cached.input_ids
        self.cache_hits[split] = cached.cache_hit

    def _read_rows(self, split: str) -> LabelledTexts:
        """Read and validate the files, then apply the row selection of ``split``."""
        if split == "train":
            rows = _subsample(self.read_train(), self.max_train_rows, self.seed)
        elif split == "val":
            rows = _subsample(self.read_val(), self.max_val_rows, self.seed)
        else:
            rows = self.read_test()
            if self.drop_unscored_test_rows:
                scored = ~(rows.labels == -1).all(axis=1)
                rows = _take(rows, np.flatnonzero(scored))
            rows = _subsample(rows, self.max_test_rows, self.seed)
        if not rows.texts:
            files = ", ".join(map(str, self.data_files()))
            raise TextlabError(f"No usable {split} rows in {files}; check the data files.")
        labels = np.asarray(rows.labels, dtype=np.float32).reshape(len(rows.texts), -1)
        return LabelledTexts(list(rows.texts), labels, [str(i) for i in rows.ids])

    def _tokenizer_key(self) -> str:
        if self._tokenizer_id is None:
            self._tokenizer_id = tokenizer_identity(self.tokenizer)
        return self._tokenizer_id

    def _hash_data(self) -> str:
        if self._data_hash is None:
            digest = hashlib.sha256()
            for path in self.data_files():
                digest.update(file_sha256(path).encode())
            self._data_hash = digest.hexdigest()
        return self._data_hash

    def _build_train_val(self) -> None:
        if self.has_official_val:
            self._build_official_train_val()
            return
        rows = self._load("train")
        tokens = self._token_ids("train")
        train_idx, val_idx = stratified_holdout(rows.labels, self.val_fraction, self.seed)
        self.train_ids = [rows.ids[i] for i in train_idx]
        self.val_ids = [rows.ids[i] for i in val_idx]
        train_labels = rows.labels[train_idx]
        self._count_positives(train_labels)
        self.train_dataset = TokenizedDataset([tokens[i] for i in train_idx], train_labels)
        self.val_dataset = TokenizedDataset([tokens[i] for i in val_idx], rows.labels[val_idx])

    def _build_official_train_val(self) -> None:
        train, val = self._load("train"), self._load("val")
        overlap = set(train.ids) & set(val.ids)
        if overlap:
            raise TextlabError(
                f"{len(overlap)} ids are in both the train and validation files "
                f"(e.g. {sorted(overlap)[0]!r}); remove them from one split."
            )
        self.train_ids, self.val_ids = list(train.ids), list(val.ids)
        self._count_positives(train.labels)
        self.train_dataset = TokenizedDataset(self._token_ids("train"), train.labels)
        self.val_dataset = TokenizedDataset(self._token_ids("val"), val.labels)

    def _count_positives(self, train_labels: np.ndarray) -> None:
        """Positives and prevalence per label of the training split; a label with none cannot
        be learnt (and its scores mean nothing), which a run should say."""
        self.pos_counts = (train_labels == 1).sum(axis=0).astype(np.int64)
        self.prevalence = self.pos_counts / np.maximum((train_labels != -1).sum(axis=0), 1)
        names = self.label_names
        absent = [name for name, count in zip(names, self.pos_counts, strict=True) if not count]
        if absent:
            log.warning(
                "no training row is positive for %s %s (of %d training rows): the model cannot "
                "learn them and their scores mean little; train on more rows "
                "(data.max_train_rows)",
                "class" if self.single_label else "label",
                ", ".join(absent),
                len(train_labels),
            )

    @staticmethod
    def _require(dataset: TokenizedDataset | None, stage: str) -> TokenizedDataset:
        if dataset is None:
            raise RuntimeError(f"Call setup({stage!r}) before asking for this dataloader.")
        return dataset

    def _loader(
        self,
        dataset: TokenizedDataset,
        batch_size: int,
        shuffle: bool,
        sampler=None,
        batch_sampler=None,
    ) -> DataLoader:
        batching = {"batch_sampler": batch_sampler} if batch_sampler is not None else {}
        return DataLoader(
            dataset,
            **(batching or {"batch_size": batch_size, "shuffle": shuffle, "sampler": sampler}),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=PaddingCollator(self.tokenizer.pad_token_id),
        )


class OfficialSplits:
    """Mix in before ``SequenceDataModule`` for data sets that come as three files, one per
    official split: each ``read_*`` reads its split's file with ``_read``."""

    has_official_val = True

    @abstractmethod
    def _read(self, split: str) -> LabelledTexts:
        """The rows of ``split`` (train, val or test), read and validated."""

    def read_train(self) -> LabelledTexts:
        return self._read("train")

    def read_val(self) -> LabelledTexts:
        return self._read("val")

    def read_test(self) -> LabelledTexts:
        return self._read("test")
