"""Length bucketing: every row once per epoch, less padding, seeded, and swappable under DDP."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _replace_dunder_methods
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler

from src.config import build_datamodule
from src.data.batching import BucketBatchSampler, bucketing_settings, eval_sampler, padded_fraction
from src.errors import TextlabError

RNG = np.random.default_rng(0)
LENGTHS = RNG.integers(5, 256, size=1000).tolist()


def _sampler(n: int, seed: int = 0) -> RandomSampler:
    return RandomSampler(range(n), generator=torch.Generator().manual_seed(seed))


def test_every_row_once_and_batches_sorted_within_chunks() -> None:
    batches = list(BucketBatchSampler(_sampler(1000), 32, False, LENGTHS, chunk_batches=4))
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(1000))
    assert len(batches) == len(BucketBatchSampler(_sampler(1000), 32, False, LENGTHS, 4)) == 32
    assert all(1 <= len(b) <= 32 for b in batches)


def test_bucketing_pads_less_than_random_batches() -> None:
    order = list(_sampler(1000))
    random_batches = [order[i : i + 32] for i in range(0, 1000, 32)]
    bucketed = list(BucketBatchSampler(_sampler(1000), 32, False, LENGTHS, chunk_batches=8))
    assert padded_fraction(bucketed, LENGTHS) < padded_fraction(random_batches, LENGTHS) / 2


def test_seeded_per_epoch_and_reproducible() -> None:
    first = BucketBatchSampler(_sampler(1000), 32, False, LENGTHS, 4, seed=3)
    again = BucketBatchSampler(_sampler(1000), 32, False, LENGTHS, 4, seed=3)
    epoch0, epoch1 = list(first), list(first)
    assert epoch0 == list(again)
    assert epoch0 != epoch1  # a new epoch draws new rows and a new batch order


def test_drop_last_keeps_only_full_batches() -> None:
    batches = list(BucketBatchSampler(_sampler(100), 32, True, LENGTHS[:100], chunk_batches=1))
    assert [len(b) for b in batches] == [32, 32, 32]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "50"])
def test_bad_chunk_batches_is_a_user_error(bad) -> None:
    with pytest.raises(TextlabError, match="data.bucketing.chunk_batches"):
        bucketing_settings({"enabled": True, "chunk_batches": bad})
    assert bucketing_settings({"enabled": False, "chunk_batches": bad}) is None


def test_lightning_can_swap_in_a_distributed_sampler() -> None:
    """What Lightning does under DDP: rebuild the batch sampler around a DistributedSampler."""
    dataset = list(range(1000))
    with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
        loader = DataLoader(
            dataset, batch_sampler=BucketBatchSampler(_sampler(1000), 32, False, LENGTHS, 4)
        )
    shards = []
    for rank in range(2):
        sampler = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=1)
        swapped = _update_dataloader(loader, sampler)
        assert isinstance(swapped.batch_sampler, BucketBatchSampler)
        assert swapped.batch_sampler.chunk_batches == 4
        shards.append([i for batch in swapped.batch_sampler for i in batch])
    assert len(shards[0]) == len(shards[1]) == 500
    assert sorted(shards[0] + shards[1]) == list(range(1000))


def _datamodule(make_cfg, *overrides: str):
    datamodule = build_datamodule(make_cfg(*overrides).data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def test_datamodule_bucketed_loader_covers_the_training_rows(make_cfg) -> None:
    datamodule = _datamodule(make_cfg, "data.bucketing.enabled=true", "data.max_length=64")
    loader = datamodule.train_dataloader()
    assert isinstance(loader.batch_sampler, BucketBatchSampler)
    rows = sum(len(batch["labels"]) for batch in loader)
    assert rows == len(datamodule.train_dataset)
    lengths = [len(ids) for ids in datamodule.train_dataset.input_ids]
    plain = [list(b) for b in BatchSampler(_sampler(len(lengths)), 16, False)]
    assert padded_fraction(list(loader.batch_sampler), lengths) < padded_fraction(plain, lengths)


def test_bucketing_with_balanced_sampler(make_cfg) -> None:
    datamodule = _datamodule(
        make_cfg, "data.bucketing.enabled=true", "data.balanced_sampler.enabled=true"
    )
    loader = datamodule.train_dataloader()
    assert type(loader.batch_sampler.sampler).__name__ == "WeightedRandomSampler"
    assert sum(len(b) for b in loader.batch_sampler) == len(datamodule.train_dataset)
    datamodule.trainer = SimpleNamespace(world_size=2, global_rank=0)
    with pytest.raises(TextlabError, match="cannot be combined under DDP"):
        datamodule.train_dataloader()


def test_eval_sampler_shards_without_repeats() -> None:
    dataset = list(range(7))
    assert eval_sampler(dataset, None) is None
    shards = [
        list(eval_sampler(dataset, SimpleNamespace(world_size=2, global_rank=r))) for r in (0, 1)
    ]
    assert sorted(shards[0] + shards[1]) == dataset  # 4 + 3 rows, none twice
