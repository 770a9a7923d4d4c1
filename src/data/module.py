"""The one DataModule base of every data set: settings and their check, the data files, row
limits, the token cache, one dataset per split and their loaders.

A data set (``src.data.datasets``, registered with ``src.data.registry.register_dataset``)
names its files (``files``), reads and validates a split (``read``) and knows its label
names. Its row kind in between says how rows are selected, encoded and batched:
``SequenceDataModule`` (a text and a label row each) or ``TokenDataModule`` (words and a tag
per word).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import lightning.pytorch as L
import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from src.config import DataSchema, validated
from src.data.batching import RowIndexCollator, RowIndexed, eval_sampler
from src.data.token_cache import (
    CachedSplit,
    LabelledTexts,
    cache_key,
    file_sha256,
    prepare_cached,
    tokenizer_identity,
)
from src.errors import TextlabError

#: the splits of a run, and the file roles that hold them
SPLITS = ("train", "val", "test")
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


def sample_index(n: int, max_rows: int | None, seed: int) -> np.ndarray | None:
    """A seeded random subset of ``n`` rows, in file order; None keeps every row.

    Example:
        >>> sample_index(5, 3, seed=0).tolist(), sample_index(5, None, seed=0)
        ([2, 3, 4], None)
    """
    if max_rows is None or max_rows >= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


class TextDataModule(L.LightningDataModule, ABC):
    """What every data set shares; subclasses add how their rows are read and encoded.

    ``files`` maps a role to a file name in ``data_dir``: ``train``/``val``/``test`` hold the
    splits (no ``val``: validation is held out of train), other roles hold what the splits need
    (labels, label names). ``cache_dir`` None: no disk cache of token ids.
    ``sort_eval_by_length``: validation, test and prediction batches take rows longest first
    (they pad less); each batch carries its rows' positions (``ROW_INDEX``), and per-row
    predictions go back into file order (``src.data.batching``).
    """

    #: the splits ``predict_dataloader`` yields, in order
    predict_splits = PREDICT_SPLITS
    #: the name the data set is registered under (``register_dataset`` sets it)
    dataset_name: ClassVar[str] = ""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        files: Mapping[str, str],
        tokenizer,
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        seed: int = 42,
        num_workers: int = 0,
        max_train_rows: int | None = None,
        max_val_rows: int | None = None,
        max_test_rows: int | None = None,
        cache_dir: str | None = None,
        sort_eval_by_length: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(sort_eval_by_length, bool):
            raise TextlabError(
                f"data.sort_eval_by_length must be true or false, got {sort_eval_by_length!r}"
            )
        self.data_dir = Path(data_dir).expanduser()
        self.files = dict(files)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.limits = {"train": max_train_rows, "val": max_val_rows, "test": max_test_rows}
        self.cache_dir = cache_dir
        self.sort_eval_by_length = sort_eval_by_length
        #: split -> its dataset, built on first use (``setup``, the loaders)
        self.datasets: dict[str, Dataset] = {}
        #: split -> whether its token ids came from the disk cache (first load only)
        self.cache_hits: dict[str, bool] = {}
        self._tokenizer_id: str | None = None
        self._data_hash: str | None = None

    # -- what a data set provides -------------------------------------------------------
    @property
    @abstractmethod
    def label_names(self) -> list[str]:
        """The label (or tag) names, in label-id order."""

    @abstractmethod
    def read(self, split: str) -> Any:
        """Every row of ``split`` as its reader returns them, validated (TextlabError on bad
        input); row limits are applied by the caller."""

    def data_file(self, name: str) -> Path:
        """The path of file ``name``; data sets that find ``.gz`` copies or say where
        research-only data is expected override it."""
        return self.data_dir / name

    def cache_tag(self) -> str:
        """What else the token ids and row selection depend on (columns, file layout)."""
        return type(self).__name__

    # -- what a row kind provides -------------------------------------------------------
    @abstractmethod
    def rows(self, split: str) -> Any:
        """The rows of ``split`` the run uses (row limits applied), read and validated once."""

    @abstractmethod
    def build_dataset(self, split: str) -> Dataset:
        """The encoded rows of ``split`` (train, val or test) for the loaders."""

    @abstractmethod
    def collator(self) -> Callable[[list], dict[str, torch.Tensor]]:
        """Turns a list of dataset items into a padded batch."""

    # -- public API ---------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def has_official_val(self) -> bool:
        """Whether validation is a file of its own (else a hold-out of the training rows)."""
        return "val" in self.files

    @property
    def read_splits(self) -> tuple[str, ...]:
        """The splits read from files, in the order they are read and validated."""
        return ("train", "test", "val") if self.has_official_val else ("train", "test")

    def data_files(self) -> list[Path]:
        """The files the rows come from: hashed into the cache key and the run record."""
        return [self.data_file(name) for name in self.files.values()]

    def settings(self) -> dict[str, Any]:
        """The settings every data set takes, as ``DataSchema`` checks them."""
        return {
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "eval_batch_size": self.eval_batch_size,
            "num_workers": self.num_workers,
            **{f"max_{split}_rows": limit for split, limit in self.limits.items()},
        }

    def check_tokenizer(self) -> None:
        """Fail clearly on a tokenizer the cache or the batches cannot use."""
        if self.cache_dir is not None:
            self._tokenizer_key()  # a slow tokenizer has no definition to hash
        self.collator()  # no pad token: batches cannot be padded

    def validate_inputs(self) -> None:
        """Check settings and tokenizer, then read and validate every file: cheap to call
        before building a model."""
        validated(OmegaConf.create(self.settings()), DataSchema, "data")
        self.check_tokenizer()
        for split in self.read_splits:
            self.rows(split)

    def prepare_data(self) -> None:
        """Validate the inputs (Lightning runs this on one process)."""
        self.validate_inputs()

    def check_split(self, split: str) -> None:
        if split not in SPLITS:
            raise TextlabError(f"unknown split {split!r}; use train, val or test")

    @abstractmethod
    def raw_split(self, split: str) -> RawSplit:
        """The untokenised rows the neural run uses for ``split``, in the same order."""

    # -- the token cache ----------------------------------------------------------------
    def cached_split(
        self, split: str, read_rows: Callable[[], LabelledTexts], tag: str
    ) -> CachedSplit:
        """``read_rows()`` tokenised, or the same from the cache under a key over the
        tokenizer, max_length, the data files' content and ``tag`` (the row selection)."""
        if self.cache_dir is None:
            raise TypeError(f"{type(self).__name__} keeps no token cache (cache_dir is None)")
        key = cache_key(self._tokenizer_key(), self.max_length, self._hash_data(), tag)
        cached = prepare_cached(read_rows, self.tokenizer, self.max_length, self.cache_dir, key)
        self.cache_hits[split] = cached.cache_hit
        return cached

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

    # -- datasets and loaders -----------------------------------------------------------
    def dataset(self, split: str) -> Dataset:
        """The dataset of ``split``, built once."""
        if split not in self.datasets:
            self.check_split(split)
            self.datasets[split] = self.build_dataset(split)
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets the stage needs; calling it again does nothing."""
        if stage in (None, "fit", "validate"):
            self.dataset("train")
            self.dataset("val")
        if stage in (None, "test", "predict"):
            self.dataset("test")

    @property
    def train_dataset(self) -> Dataset | None:
        return self.datasets.get("train")

    @property
    def val_dataset(self) -> Dataset | None:
        return self.datasets.get("val")

    @property
    def test_dataset(self) -> Dataset | None:
        return self.datasets.get("test")

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("train"), self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> list[DataLoader]:
        """Validation then test (``predict_splits``): what the after-fit analyses predict."""
        return [self.val_dataloader(), self.test_dataloader()]

    def _eval_loader(self, split: str) -> DataLoader:
        # under DDP: disjoint shards, no padded repeats (the collector gathers them); rows
        # longest first when sort_eval_by_length; every batch carries its rows' positions
        dataset = self.dataset(split)
        sampler = eval_sampler(dataset, self.trainer, self.sort_eval_by_length)
        return self.loader(
            RowIndexed(dataset),
            self.eval_batch_size,
            sampler=sampler,
            collate_fn=RowIndexCollator(self.collator()),
        )

    def loader(
        self,
        dataset: Dataset,
        batch_size: int,
        shuffle: bool = False,
        sampler=None,
        batch_sampler=None,
        collate_fn: Callable[[list], dict[str, torch.Tensor]] | None = None,
    ) -> DataLoader:
        """A loader with the data set's worker settings and collator (or ``collate_fn``)."""
        batching = {"batch_size": batch_size, "shuffle": shuffle, "sampler": sampler}
        return DataLoader(
            dataset,
            **({"batch_sampler": batch_sampler} if batch_sampler is not None else batching),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=collate_fn or self.collator(),
        )
