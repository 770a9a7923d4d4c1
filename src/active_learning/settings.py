"""The schema of the `active` config node (read by ``src.active_learning.setup``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from src.config import Rule, at_least, one_of, store_schema
from src.errors import TextlabError

STARTS = ("cold", "warm")
COLD_RESETS = ("model", "head")
KEEP_WEIGHTS = ("last", "all")


@dataclass
class ActiveSettings:
    """The loop's settings (``conf/active/default.yaml``), a schema checked in one line per
    problem by ``src.config.validated`` (and in Hydra's ConfigStore as ``schema/active``)."""

    strategy: str = "random"
    rounds: int = 10
    query_size: int = 200
    initial_size: int = 200
    pool_size: int | None = None
    start: str = "cold"
    cold_reset: str = "model"
    resume: bool = False
    run_dir: str | None = None
    max_rounds_this_process: int | None = None
    keep_weights: str = "last"
    predict_batch_size: int = 128
    prior_bias: bool = False
    rules: ClassVar[dict[str, Rule]] = {
        "rounds": at_least(0),
        "query_size": at_least(1),
        "initial_size": at_least(1),
        "pool_size": at_least(2),
        "start": one_of(*STARTS),
        "cold_reset": one_of(*COLD_RESETS),
        "max_rounds_this_process": at_least(1),
        "keep_weights": one_of(*KEEP_WEIGHTS),
        "predict_batch_size": at_least(1),
    }

    @property
    def budget(self) -> int:
        """Rows labelled by the end: the initial set plus every query."""
        return self.initial_size + self.rounds * self.query_size

    @property
    def keeps_weights(self) -> bool:
        """Warm start, or a cold start that re-initialises only the head, reuses weights."""
        return self.start == "warm" or self.cold_reset == "head"

    def fresh_head(self, round_index: int) -> bool:
        """Whether the round's head starts untrained (every cold round, or round 0 of warm)."""
        return self.start == "cold" or round_index == 0

    def check_pool(self, pool_size: int) -> None:
        """The whole budget must fit in the pool."""
        if self.budget > pool_size:
            raise TextlabError(
                f"active.initial_size + active.rounds * active.query_size = {self.budget} rows, "
                f"but the pool has only {pool_size}; lower them or raise active.pool_size"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


store_schema("active", ActiveSettings)
