"""How batches are made: datasets over token ids, padding per batch, length bucketing,
balanced sampling of rare labels, and which rows each process evaluates (in which order).

Padding per batch instead of to max_length saves most of the compute on short comments;
bucketing sorts rows by length within chunks of shuffled rows so batches pad even less.
Evaluation batches are sorted by length outright (nothing to randomise there) and carry each
row's position, so predictions go back into file order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, WeightedRandomSampler

from src.errors import TextlabError


# -- datasets and padding --------------------------------------------------------------------
class TokenizedDataset(Dataset):
    """Token ids (unpadded) with a float32 [N, L] label matrix; -1 marks an unscored label."""

    def __init__(self, input_ids: list[list[int]], labels: np.ndarray) -> None:
        labels = np.asarray(labels, dtype=np.float32)
        if labels.ndim == 1:
            labels = labels[:, None]
        if len(input_ids) != len(labels):
            raise ValueError(f"{len(input_ids)} token rows but {len(labels)} label rows")
        self.input_ids = input_ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict:
        return {"input_ids": self.input_ids[index], "labels": self.labels[index]}

    def subset(self, rows: np.ndarray) -> TokenizedDataset:
        """The rows at these positions, in this order."""
        return TokenizedDataset([self.input_ids[i] for i in rows], self.labels[rows])


class PaddingCollator:
    """Pad a list of items to the batch's longest sequence (right padding).

    Example:
        >>> batch = PaddingCollator(0)([{"input_ids": [5, 6], "labels": np.zeros(1)},
        ...                            {"input_ids": [7], "labels": np.ones(1)}])
        >>> batch["input_ids"].tolist(), batch["attention_mask"].tolist()
        ([[5, 6], [7, 0]], [[1, 1], [1, 0]])
    """

    def __init__(self, pad_token_id: int | None) -> None:
        if pad_token_id is None:
            raise TextlabError(
                "The tokenizer has no pad token, so batches cannot be padded; "
                "use a tokenizer with a pad token (or set tokenizer.pad_token)."
            )
        self.pad_token_id = int(pad_token_id)

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(item["input_ids"]) for item in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            ids = item["input_ids"]
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        labels = torch.as_tensor(np.stack([item["labels"] for item in items]), dtype=torch.float)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


# -- length-bucketed batches -----------------------------------------------------------------
# Length-bucketed training batches: sort within chunks of shuffled rows, then shuffle batches.
#
# Dynamic padding pads each batch to its longest row; when a batch mixes a 20-token and a
# 256-token comment, most of its compute is padding. Sorting *all* rows by length would make
# every epoch see the same batches in the same order, so the rows are shuffled first (by the
# wrapped sampler), cut into chunks of ``chunk_batches * batch_size``, sorted by length inside
# each chunk, cut into batches, and the batches are shuffled (seeded per epoch).
#
# The class is a ``BatchSampler`` over another sampler so that Lightning can swap that sampler
# for a ``DistributedSampler`` under DDP: each rank then buckets its own shard of the rows
# (Lightning re-creates batch samplers with the arguments they were built with, sampler replaced).


def padded_loader(
    dataset: Dataset,
    batch_size: int,
    pad_token_id: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> DataLoader:
    """Batches of ``dataset`` padded to each batch's longest row (no workers)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=PaddingCollator(pad_token_id),
    )


class BucketBatchSampler(BatchSampler):
    """Batches of similar-length rows drawn from ``sampler``'s order.

    Args:
        sampler: yields row indices in the order to use (a seeded ``RandomSampler``, the
            balanced ``WeightedRandomSampler``, or a ``DistributedSampler`` under DDP).
        batch_size: rows per batch.
        drop_last: drop the short batch at the end of each chunk's tail (only the last chunk
            can have one).
        lengths: token count of every row of the dataset (indexed like the dataset).
        chunk_batches: how many batches' worth of rows are sorted together; larger chunks
            pad less but make batches less random.
        seed: seeds the batch-order shuffle, together with the epoch.

    Example:
        >>> sampler = range(8)
        >>> batches = BucketBatchSampler(sampler, 2, False, [5, 1, 4, 2, 8, 7, 3, 6], 4)
        >>> sorted(sorted(batch) for batch in batches)
        [[0, 2], [1, 3], [4, 5], [6, 7]]
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sequence[int],
        batch_size: int,
        drop_last: bool,
        lengths: Sequence[int],
        chunk_batches: int = 50,
        seed: int = 0,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        if isinstance(chunk_batches, bool) or not isinstance(chunk_batches, int):
            raise TextlabError(
                f"data.bucketing.chunk_batches must be an integer, got {chunk_batches!r}"
            )
        if chunk_batches < 1:
            raise TextlabError(f"data.bucketing.chunk_batches must be >= 1, got {chunk_batches}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.chunk_batches = chunk_batches
        self.seed = int(seed)
        self.epoch = 0  # counts passes, so each epoch shuffles its batches differently

    def _batches(self, order: np.ndarray) -> list[np.ndarray]:
        chunk = self.chunk_batches * self.batch_size
        batches: list[np.ndarray] = []
        for start in range(0, len(order), chunk):
            rows = order[start : start + chunk]
            rows = rows[np.argsort(self.lengths[rows], kind="stable")]
            for first in range(0, len(rows), self.batch_size):
                batch = rows[first : first + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        order = np.fromiter(iter(self.sampler), dtype=np.int64)
        batches = self._batches(order)
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        for index in rng.permutation(len(batches)):
            yield batches[index].tolist()


def bucketing_settings(settings: Mapping[str, Any] | None) -> int | None:
    """``data.bucketing`` -> chunk_batches when enabled, else None."""
    if not settings or not settings.get("enabled", False):
        return None
    chunk = settings.get("chunk_batches", 50)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise TextlabError(
            f"data.bucketing.chunk_batches must be an integer >= 1, got {chunk!r}; e.g. 50"
        )
    return chunk


def padded_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of the token slots in these batches that are padding (dynamic padding)."""
    row_lengths = np.asarray(lengths)
    slots = real = 0
    for batch in batches:
        batch_lengths = row_lengths[np.asarray(batch)]
        slots += int(batch_lengths.max()) * len(batch_lengths)
        real += int(batch_lengths.sum())
    return 1.0 - real / slots if slots else 0.0


# -- balanced sampling of rare labels --------------------------------------------------------
# A balanced sampler: draw training rows with rare positive labels more often.
#
# Row ``i`` gets weight ``clip(max_j target_rate / prevalence_j, 1, max_weight)`` over the labels
# ``j`` it is positive for (1 if it has none), and a ``WeightedRandomSampler`` draws an epoch of
# ``len(train)`` rows with replacement. A label at prevalence ``p < target_rate`` has its
# positives drawn about ``target_rate / p`` times as often (less once capped by ``max_weight``,
# and divided by the mean weight); labels already above ``target_rate`` are left alone.


def balanced_row_weights(labels: np.ndarray, target_rate: float, max_weight: float) -> np.ndarray:
    """``[N]`` sampling weights from a ``[N, L]`` 1/0/-1 label matrix.

    Example:
        >>> labels = np.array([[1, 0]] * 1 + [[0, 1]] * 5 + [[0, 0]] * 4)
        >>> balanced_row_weights(labels, target_rate=0.2, max_weight=10.0).tolist()[:2]
        [2.0, 1.0]
    """
    labels = np.asarray(labels)
    positives = (labels == 1).sum(axis=0)
    scored = (labels != -1).sum(axis=0)
    prevalence = np.divide(positives, scored, out=np.zeros(labels.shape[1]), where=scored > 0)
    label_weight = np.divide(
        target_rate, prevalence, out=np.ones(labels.shape[1]), where=prevalence > 0
    )
    row_weight = np.where(labels == 1, label_weight[None, :], 1.0).max(axis=1)
    return np.clip(row_weight, 1.0, max_weight)


def expected_label_rates(weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The rate of positives per label in rows drawn with these weights."""
    weights = np.asarray(weights, dtype=np.float64)
    return (weights[:, None] * (np.asarray(labels) == 1)).sum(axis=0) / weights.sum()


def sampler_settings(settings: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """``data.balanced_sampler`` -> (target_rate, max_weight) when enabled, else None."""
    if not settings or not settings.get("enabled", False):
        return None
    rate, cap = settings.get("target_rate"), settings.get("max_weight")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1:
        raise TextlabError(
            f"data.balanced_sampler.target_rate must be in (0, 1), got {rate!r}; e.g. 0.05"
        )
    if isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 1:
        raise TextlabError(f"data.balanced_sampler.max_weight must be >= 1, got {cap!r}; e.g. 20")
    return float(rate), float(cap)


def balanced_sampler(
    labels: np.ndarray, target_rate: float, max_weight: float, seed: int
) -> WeightedRandomSampler:
    """Draws ``len(labels)`` rows per epoch with replacement, seeded."""
    weights = balanced_row_weights(labels, target_rate, max_weight)
    generator = torch.Generator().manual_seed(int(seed))
    return WeightedRandomSampler(
        torch.as_tensor(weights, dtype=torch.double),  # type: ignore[arg-type]  # a tensor works
        num_samples=len(weights),
        replacement=True,
        generator=generator,
    )


# -- evaluation order and shards under DDP ---------------------------------------------------
# Which rows each process evaluates, and in which order, decided in the DataModule rather than
# by Lightning.
#
# Lightning's default for evaluation loaders is a ``DistributedSampler``, which pads the last
# shard with repeated rows so that all ranks get equally many; the repeats would count twice in
# the gathered AUC/F1. An ``UnrepeatedDistributedSampler`` gives each rank a disjoint slice
# instead (shard sizes may differ by one row, which evaluation tolerates: no gradients to sync).
#
# Within its rows, a process evaluates the longest first (``LengthSortedSampler``): each batch
# then holds rows of about one length and pads little, and the widest batch comes first, so a
# batch that does not fit in memory fails at once. Every batch carries the dataset positions
# of its rows (``ROW_INDEX``): whatever keeps per-row outputs puts them back into file order
# (``src.evaluation.predictions.stack_predictions``); scores over a whole split do not depend
# on the order.

#: the batch key holding each row's position in its dataset (evaluation loaders)
ROW_INDEX = "row_index"


def row_lengths(dataset: Any) -> np.ndarray:
    """Token count of every row of a dataset of token ids (``TokenizedDataset``) or of encoded
    sentences (items with ``input_ids``)."""
    ids = getattr(dataset, "input_ids", None)
    if ids is None:
        items = (dataset[i] for i in range(len(dataset)))
        ids = [item["input_ids"] if isinstance(item, Mapping) else item.input_ids for item in items]
    return np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))


class LengthSortedSampler(UnrepeatedDistributedSampler):
    """This process's rows (all of them in a single process; a disjoint shard under DDP),
    longest first; rows of equal length keep their order.

    A ``DistributedSampler`` subclass, so that Lightning does not wrap it in another one.

    Example:
        >>> list(LengthSortedSampler([3, 9, 3, 5]))
        [1, 3, 0, 2]
        >>> list(LengthSortedSampler([3, 9, 3, 5, 7], num_replicas=2, rank=1))  # rows 1, 3
        [1, 3]
    """

    def __init__(
        self, lengths: Sequence[int] | np.ndarray, num_replicas: int = 1, rank: int = 0
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        super().__init__(
            range(len(self.lengths)), num_replicas=num_replicas, rank=rank, shuffle=False
        )

    def __iter__(self) -> Iterator[int]:  # type: ignore[override]
        shard = np.fromiter(super().__iter__(), dtype=np.int64)
        return iter(shard[np.argsort(-self.lengths[shard], kind="stable")].tolist())


class RowIndexed(Dataset):
    """A dataset whose items come with their position: ``(index, item)``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return index, self.dataset[index]


class RowIndexCollator:
    """Batches ``RowIndexed`` items with ``collate`` and adds their positions (``ROW_INDEX``)."""

    def __init__(self, collate: Callable[[list], dict[str, torch.Tensor]]) -> None:
        self.collate = collate

    def __call__(self, pairs: list[tuple[int, Any]]) -> dict[str, torch.Tensor]:
        batch = self.collate([item for _, item in pairs])
        batch[ROW_INDEX] = torch.tensor([index for index, _ in pairs], dtype=torch.long)
        return batch


def restore_row_order(rows: torch.Tensor, row_index: torch.Tensor) -> torch.Tensor:
    """Rows gathered in evaluation order, put back at their dataset positions.

    Example:
        >>> restore_row_order(torch.tensor([[9], [5], [7]]), torch.tensor([2, 0, 1])).tolist()
        [[5], [7], [9]]
    """
    return rows[torch.argsort(row_index)]


def world_of(trainer: Any | None) -> tuple[int, int]:
    """(world_size, global_rank) of the attached trainer; (1, 0) without one."""
    if trainer is None:
        return 1, 0
    return int(getattr(trainer, "world_size", 1)), int(getattr(trainer, "global_rank", 0))


def eval_sampler(
    dataset: Dataset, trainer: Any | None, sort_by_length: bool = False
) -> UnrepeatedDistributedSampler | None:
    """This rank's rows of ``dataset``: a no-repeat shard under DDP, longest first when
    ``sort_by_length``; None: every row in file order."""
    world_size, rank = world_of(trainer)
    rows = len(dataset)  # type: ignore[arg-type]  # every textlab dataset is sized
    if world_size > 1 and rows < world_size:
        raise TextlabError(
            f"{rows} evaluation rows cannot be split over {world_size} processes; "
            "use fewer trainer.devices or more rows"
        )
    if sort_by_length:
        return LengthSortedSampler(row_lengths(dataset), num_replicas=world_size, rank=rank)
    if world_size <= 1:
        return None
    return UnrepeatedDistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False)


def check_bucketing_with_sampler(trainer: Any | None, balanced: bool, bucketing: bool) -> None:
    """Refuse balanced sampling + bucketing under DDP: Lightning would drop the weights."""
    if balanced and bucketing and world_of(trainer)[0] > 1:
        raise TextlabError(
            "data.balanced_sampler and data.bucketing cannot be combined under DDP (Lightning "
            "replaces the weighted sampler with a DistributedSampler); set "
            "data.bucketing.enabled=false or data.balanced_sampler.enabled=false"
        )
