"""Text classification rows: read -> validate -> split -> tokenise once (cached) -> batches.

Every sequence data set (multi-label Jigsaw and GoEmotions, multi-class emotion) keeps its
labels as a float32 ``[N, L]`` matrix: multi-hot with -1 for an unscored label, or one-hot for
single-label data sets (``single_label``), so the hold-out split, row subsets, token cache,
padding and samplers are shared. A data set (``src.data.datasets``) subclasses
``SequenceDataModule`` and implements ``read(split)`` returning ``LabelledTexts``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, Sampler

from src.data.batching import (
    BucketBatchSampler,
    PaddingCollator,
    TokenizedDataset,
    balanced_sampler,
    bucketing_settings,
    check_bucketing_with_sampler,
    sampler_settings,
)
from src.data.module import RawSplit, TextDataModule, sample_index
from src.data.splits import stratified_holdout
from src.data.token_cache import LabelledTexts
from src.errors import TextlabError, excerpt

log = logging.getLogger(__name__)


def one_hot(class_ids: np.ndarray, num_classes: int) -> np.ndarray:
    """float32 [N, C] with a 1 at each row's class id.

    Example:
        >>> one_hot(np.array([2, 0]), 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    out = np.zeros((len(class_ids), num_classes), dtype=np.float32)
    out[np.arange(len(class_ids)), np.asarray(class_ids, dtype=np.int64)] = 1.0
    return out


def _take(rows: LabelledTexts, index: np.ndarray | None) -> LabelledTexts:
    if index is None:
        return rows
    return LabelledTexts(
        [rows.texts[i] for i in index], rows.labels[index], [rows.ids[i] for i in index]
    )


class SequenceDataModule(TextDataModule):
    """Texts with a label row each; ``single_label`` data sets store one-hot rows and their
    ``raw_split`` gives class ids.

    ``common``: the ``TextDataModule`` settings (tokenizer, max_length, batch sizes, row
    limits...).
    """

    #: one label per row (multi-class): rows are one-hot, no row is unscored
    single_label: bool = False

    def __init__(
        self,
        data_dir: str | Path,
        *,
        files: Mapping[str, str],
        label_columns: Sequence[str],
        val_fraction: float = 0.1,
        cache_dir: str = ".cache/tokens",
        drop_unscored_test_rows: bool = True,
        balanced_sampler: Mapping[str, Any] | None = None,
        bucketing: Mapping[str, Any] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(data_dir, files=files, cache_dir=cache_dir, **common)
        self.label_columns = [str(c) for c in label_columns]
        self.val_fraction = val_fraction
        self.drop_unscored_test_rows = drop_unscored_test_rows
        #: (target_rate, max_weight) of the balanced training sampler, or None (plain shuffle)
        self.balanced_sampler = sampler_settings(balanced_sampler)
        #: chunk_batches of length-bucketed training batches (src/data/batching.py), or None
        self.bucketing = bucketing_settings(bucketing)
        #: split -> the row ids of its dataset, in order
        self.ids: dict[str, list[str]] = {}
        self.pos_counts: np.ndarray | None = None
        self.prevalence: np.ndarray | None = None
        self._rows: dict[str, LabelledTexts] = {}
        self._tokens: dict[str, list[list[int]]] = {}
        self._holdout: tuple[np.ndarray, np.ndarray] | None = None

    # -- public API ---------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return list(self.label_columns)

    @property
    def train_ids(self) -> list[str]:
        return self.ids.get("train", [])

    @property
    def val_ids(self) -> list[str]:
        return self.ids.get("val", [])

    @property
    def test_ids(self) -> list[str]:
        return self.ids.get("test", [])

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "val_fraction": self.val_fraction}

    def validate_inputs(self) -> None:
        if not self.label_columns:
            raise TextlabError("data.label_columns is empty; list the label columns to train on.")
        super().validate_inputs()
        self.warn_shared_test_ids()

    def warn_shared_test_ids(self) -> list[str]:
        """Warn (one line: how many, a few of them) when rows of the test file have ids that
        training or validation rows also have: a copy of a test row in the training data makes
        the test scores too good. Returns the shared ids, sorted."""
        test = set(self.rows("test").ids)
        seen = [split for split in self.read_splits if split != "test"]
        shared = sorted(set().union(*(test.intersection(self.rows(s).ids) for s in seen)))
        if shared:
            files = " and ".join(self.files[split] for split in seen)
            log.warning(
                "%d id(s) of the test file %s are also in %s (e.g. %s): the test scores of "
                "rows the model trained on are too good; remove them from one side",
                len(shared),
                self.files["test"],
                files,
                ", ".join(excerpt(i, 30) for i in shared[:3]),
            )
        return shared

    def prepare_data(self) -> None:
        """Validate the inputs and fill the token cache (Lightning runs this on one process)."""
        self.validate_inputs()
        for split in self.read_splits:
            self._token_ids(split)

    def rows(self, split: str) -> LabelledTexts:
        """The split's rows as read and validated: from the token cache when it holds them."""
        self._prepare(split)
        return self._rows[split]

    def raw_split(self, split: str) -> RawSplit:
        """The untokenised rows the neural run uses for ``split`` (train/val/test), same order.

        For baselines: the seeded hold-out, row subsets and dropped unscored test rows are the
        ones ``setup`` applies; labels are float [N, L] with -1 = unscored, or int [N] class
        ids for single-label data sets.
        """
        self.check_split(split)
        rows, _ = self._split(split)
        labels = rows.labels.copy()
        if self.single_label:
            labels = labels.argmax(axis=1).astype(np.int64)
        return RawSplit(list(rows.texts), labels, self.label_names)

    # -- datasets and loaders -----------------------------------------------------------
    def collator(self) -> PaddingCollator:
        return PaddingCollator(self.tokenizer.pad_token_id)

    def build_dataset(self, split: str) -> TokenizedDataset:
        if split in ("train", "val") and self.has_official_val:
            self._check_no_overlap()
        rows, tokens = self._split(split)
        self.ids[split] = list(rows.ids)
        if split == "train":
            self._count_positives(rows.labels)
        return TokenizedDataset(tokens, rows.labels)

    def train_dataloader(self) -> DataLoader:
        dataset = self.dataset("train")
        assert isinstance(dataset, TokenizedDataset)  # what this module's splits are
        weighting, chunk = self.balanced_sampler, self.bucketing
        check_bucketing_with_sampler(self.trainer, weighting is not None, chunk is not None)
        sampler: Sampler[int]
        if weighting is not None:
            target_rate, max_weight = weighting
            sampler = balanced_sampler(dataset.labels, target_rate, max_weight, seed=self.seed)
        elif chunk is not None:  # a RandomSampler, so Lightning shuffles the DistributedSampler
            sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(self.seed))
        else:
            return self.loader(dataset, self.batch_size, shuffle=True)
        if chunk is None:
            return self.loader(dataset, self.batch_size, sampler=sampler)
        lengths = [len(ids) for ids in dataset.input_ids]
        batches = BucketBatchSampler(
            sampler, self.batch_size, False, lengths, chunk, seed=self.seed
        )
        return self.loader(dataset, 1, batch_sampler=batches)

    # -- internals ----------------------------------------------------------------------
    def _split(self, split: str) -> tuple[LabelledTexts, list[list[int]]]:
        """Rows and token ids of ``split``; without an official validation file, train and val
        are the seeded stratified hold-out of the training rows."""
        if split == "test" or self.has_official_val:
            return self.rows(split), self._token_ids(split)
        rows, tokens = self.rows("train"), self._token_ids("train")
        if self._holdout is None:
            self._holdout = stratified_holdout(rows.labels, self.val_fraction, self.seed)
        index = self._holdout[split == "val"]
        return _take(rows, index), [tokens[i] for i in index]

    def _token_ids(self, split: str) -> list[list[int]]:
        self._prepare(split)
        return self._tokens[split]

    def _prepare(self, split: str) -> None:
        if split in self._rows:
            return
        tag = (
            f"{self.cache_tag()}|split={split}|rows={self.limits[split]}"
            f"|seed={self.seed}|drop_unscored={self.drop_unscored_test_rows}"
        )
        cached = self.cached_split(split, lambda: self._read_rows(split), tag)
        self._rows[split], self._tokens[split] = cached.rows, cached.input_ids

    def _read_rows(self, split: str) -> LabelledTexts:
        """Read and validate the files, then apply the row selection of ``split``."""
        rows = self.read(split)
        if split == "test" and self.drop_unscored_test_rows:
            rows = _take(rows, np.flatnonzero(~(rows.labels == -1).all(axis=1)))
        rows = _take(rows, sample_index(len(rows.texts), self.limits[split], self.seed))
        if not rows.texts:
            files = ", ".join(map(str, self.data_files()))
            raise TextlabError(f"No usable {split} rows in {files}; check the data files.")
        labels = np.asarray(rows.labels, dtype=np.float32).reshape(len(rows.texts), -1)
        return LabelledTexts(list(rows.texts), labels, [str(i) for i in rows.ids])

    def _check_no_overlap(self) -> None:
        overlap = set(self.rows("train").ids) & set(self.rows("val").ids)
        if overlap:
            raise TextlabError(
                f"{len(overlap)} ids are in both the train and validation files "
                f"(e.g. {excerpt(sorted(overlap)[0])}); remove them from one split."
            )

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
