"""Length-bucketed training batches: sort within chunks of shuffled rows, then shuffle batches.

Dynamic padding pads each batch to its longest row; when a batch mixes a 20-token and a
256-token comment, most of its compute is padding. Sorting *all* rows by length would make
every epoch see the same batches in the same order, so the rows are shuffled first (by the
wrapped sampler), cut into chunks of ``chunk_batches * batch_size``, sorted by length inside
each chunk, cut into batches, and the batches are shuffled (seeded per epoch).

The class is a ``BatchSampler`` over another sampler so that Lightning can swap that sampler
for a ``DistributedSampler`` under DDP: each rank then buckets its own shard of the rows
(Lightning re-creates batch samplers with the arguments they were built with, sampler replaced).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import BatchSampler, Sampler

from src.utils.errors import TextlabError


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
    lengths = np.asarray(lengths)
    slots = real = 0
    for batch in batches:
        batch_lengths = lengths[np.asarray(batch)]
        slots += int(batch_lengths.max()) * len(batch_lengths)
        real += int(batch_lengths.sum())
    return 1.0 - real / slots if slots else 0.0
