"""The `active` config node, checked once, and the strategy it names."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hydra.errors import InstantiationException
from omegaconf import DictConfig

from src.active_learning.strategies import Strategy
from src.config import build
from src.errors import TextlabError

STARTS = ("cold", "warm")
COLD_RESETS = ("model", "head")
KEEP_WEIGHTS = ("last", "all")


def _int(value: Any, key: str, minimum: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TextlabError(f"active.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise TextlabError(f"active.{key} must be true or false, got {value!r}")
    return value


def _choice(value: Any, key: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise TextlabError(f"active.{key} must be one of {', '.join(options)}, got {value!r}")
    return str(value)


@dataclass(frozen=True)
class ActiveSettings:
    """The loop's settings (``conf/active/default.yaml``), type-checked with one-line errors."""

    strategy: str
    rounds: int
    query_size: int
    initial_size: int
    pool_size: int | None
    start: str
    cold_reset: str
    resume: bool
    run_dir: str | None
    max_rounds_this_process: int | None
    keep_weights: str
    predict_batch_size: int
    prior_bias: bool = False

    @classmethod
    def from_cfg(cls, node: DictConfig) -> ActiveSettings:
        names = list(node.strategies)
        if node.strategy not in names:
            raise TextlabError(
                f"active.strategy={node.strategy!r} is unknown; use one of {', '.join(names)}"
            )
        return cls(
            strategy=str(node.strategy),
            rounds=_int(node.rounds, "rounds", 0),
            query_size=_int(node.query_size, "query_size", 1),
            initial_size=_int(node.initial_size, "initial_size", 1),
            pool_size=_int(node.pool_size, "pool_size", 2, optional=True),
            start=_choice(node.start, "start", STARTS),
            cold_reset=_choice(node.cold_reset, "cold_reset", COLD_RESETS),
            resume=bool(node.resume),
            run_dir=None if node.run_dir is None else str(node.run_dir),
            max_rounds_this_process=_int(
                node.max_rounds_this_process, "max_rounds_this_process", 1, optional=True
            ),
            keep_weights=_choice(node.keep_weights, "keep_weights", KEEP_WEIGHTS),
            predict_batch_size=_int(node.predict_batch_size, "predict_batch_size", 1),
            prior_bias=_bool(node.get("prior_bias", False), "prior_bias"),
        )

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


def build_strategy(node: DictConfig) -> Strategy:
    """The strategy named by ``active.strategy``, with its settings from ``active.strategies``."""
    try:
        return build(node.strategies[node.strategy])
    except (InstantiationException, ValueError) as err:
        cause: BaseException = err
        while cause.__cause__ is not None:
            cause = cause.__cause__
        raise TextlabError(f"active.strategies.{node.strategy}: {cause}") from None
