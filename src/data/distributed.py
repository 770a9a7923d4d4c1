"""Which rows each process sees under DDP, decided in the DataModule rather than by Lightning.

Lightning's default for evaluation loaders is a ``DistributedSampler``, which pads the last
shard with repeated rows so that all ranks get equally many; the repeats would count twice in
the gathered AUC/F1. An ``UnrepeatedDistributedSampler`` gives each rank a disjoint slice
instead (shard sizes may differ by one row, which evaluation tolerates: no gradients to sync).
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import Dataset

from src.utils.errors import TextlabError


def world_of(trainer: Any | None) -> tuple[int, int]:
    """(world_size, global_rank) of the attached trainer; (1, 0) without one."""
    if trainer is None:
        return 1, 0
    return int(getattr(trainer, "world_size", 1)), int(getattr(trainer, "global_rank", 0))


def eval_sampler(dataset: Dataset, trainer: Any | None) -> UnrepeatedDistributedSampler | None:
    """A no-repeat shard of ``dataset`` for this rank under DDP, else None (plain order)."""
    world_size, rank = world_of(trainer)
    if world_size <= 1:
        return None
    if len(dataset) < world_size:
        raise TextlabError(
            f"{len(dataset)} evaluation rows cannot be split over {world_size} processes; "
            "use fewer trainer.devices or more rows"
        )
    return UnrepeatedDistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False)


def check_bucketing_with_sampler(trainer: Any | None, balanced: bool, bucketing: bool) -> None:
    """Refuse balanced sampling + bucketing under DDP: Lightning would drop the weights."""
    if balanced and bucketing and world_of(trainer)[0] > 1:
        raise TextlabError(
            "data.balanced_sampler and data.bucketing cannot be combined under DDP (Lightning "
            "replaces the weighted sampler with a DistributedSampler); set "
            "data.bucketing.enabled=false or data.balanced_sampler.enabled=false"
        )
