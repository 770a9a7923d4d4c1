"""The active-learning run's config, read once, at the start, into typed objects.

The loop and its rounds work on an :class:`ActiveSetup` and never on the config: the
settings and the strategy, how each round builds, trains and scores its model, where the run
is tracked, and how the data is made. Everything here is checked before any data is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import lightning.pytorch as L
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from src.active_learning.settings import ActiveSettings
from src.active_learning.strategies import Strategy
from src.config import ThresholdsSchema, build, build_datamodule, resolved_dict, validated
from src.errors import TextlabError
from src.models.module import EncoderModule
from src.tasks.multilabel.task import MultilabelTask
from src.tracking.repo import aim_repos_in


@dataclass(frozen=True)
class RoundRecipe:
    """How every round builds, trains and scores its model."""

    #: a fresh model (pretrained encoder, new head), called with ``label_names=``
    build_model: Callable[..., EncoderModule]
    #: a fresh Trainer for one round's fit (no logger, no checkpoints, no progress bar)
    build_trainer: Callable[[], L.Trainer]
    precision: str
    accelerator: str
    thresholds: ThresholdsSchema


@dataclass(frozen=True)
class Tracking:
    """Where the run is tracked in Aim (the ``logger`` node's repos; none: not tracked)."""

    repos: list[str]
    experiment: str
    tags: list[str]
    #: the resolved config, logged once with a new Aim run
    config: dict[str, Any]


@dataclass(frozen=True)
class ActiveSetup:
    """Everything the loop needs of the config."""

    settings: ActiveSettings
    strategy: Strategy
    recipe: RoundRecipe
    tracking: Tracking
    run_dir: Path
    seed: int
    #: the data module's class (a resume must use the same data)
    data_target: str
    #: the resolved config (a resume compares it with the run's own config.yaml)
    config: dict[str, Any]
    #: the data module, made (tokenizer loaded) only once the run has started
    make_datamodule: Callable[[], Any]


def read_setup(cfg: DictConfig) -> ActiveSetup:
    """The one place that reads an active-learning config; a bad value is a one-line error.

    Checked in this order: the ``active`` settings, the strategy they name, that the data is
    multi-label (the strategies score one Bernoulli variable per label, the rounds tune
    per-label thresholds), the ``thresholds`` settings. Nothing is read from disk."""
    active = cfg.active
    names = list(active.strategies)
    if active.strategy not in names:
        raise TextlabError(
            f"active.strategy={active.strategy!r} is unknown; use one of {', '.join(names)}"
        )
    settings: ActiveSettings = validated(active, ActiveSettings, "active")
    try:
        strategy: Strategy = build(active.strategies[active.strategy])
    except (InstantiationException, ValueError) as err:
        cause: BaseException = err
        while cause.__cause__ is not None:
            cause = cause.__cause__
        raise TextlabError(f"active.strategies.{active.strategy}: {cause}") from None
    task = build(cfg.data.task)
    if not isinstance(task, MultilabelTask):
        raise TextlabError(
            f"active learning needs a multi-label data set (data=jigsaw, data=goemotions); "
            f"this one is a {task.name} task"
        )
    thresholds: ThresholdsSchema = validated(cfg.thresholds, ThresholdsSchema, "thresholds")
    config = resolved_dict(cfg)
    repos = aim_repos_in(cfg.get("logger"))
    trainer = cfg.trainer
    return ActiveSetup(
        settings=settings,
        strategy=strategy,
        recipe=RoundRecipe(
            build_model=partial(build, cfg.model),
            build_trainer=partial(
                build,
                trainer,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            ),
            precision=str(trainer.precision),
            accelerator=str(trainer.accelerator),
            thresholds=thresholds,
        ),
        tracking=Tracking(
            repos=repos,
            experiment=str(cfg.task_name),
            tags=[str(tag) for tag in cfg.get("tags") or []],
            config=config,
        ),
        run_dir=Path(settings.run_dir or cfg.paths.output_dir),
        seed=int(cfg.seed),
        data_target=str(cfg.data._target_),
        config=config,
        make_datamodule=partial(build_datamodule, cfg.data),
    )
