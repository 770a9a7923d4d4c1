"""Aim tracking: the repository and its index, the Lightning logger, and the Hydra callback.

A run is named from its job's overrides (``avg_pooler lr=3e-5 seed=2``) and carries the
config's ``tags``, the ``overrides`` and, in a multirun, the ``sweep`` folder as params.
Metric contexts (``docs/tracking.md``): ``{subset: train|val}`` are the training curves;
whatever scores one checkpoint (the best checkpoint's validate, test and analyses; the untrained
model's baseline) is a run param under ``scores`` (``score_key``: ``scores.best.test.auc_macro``,
``scores.best.test.tuned.f1_macro``), so the Metrics explorer holds curves only.

Several processes creating one repository at once (a parallel sweep) fail with a bare
RuntimeError, so the repository is created once in the launching process (``LaunchCallback``)
and again, idempotently, by each run before its logger opens it. A closed run is indexed at
once (``reindex``) so that ``aim.Repo(...).iter_runs()`` and the UI see it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from aim.pytorch_lightning import AimLogger as AimLightningLogger
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_only

from src.tracking.repo import reindex

log = logging.getLogger(__name__)
#: override keys (first component) that say where things go, not what the run is
NAME_NOISE = ("paths", "hydra", "logger", "results_file", "ckpt_path")


def aim_loggers(loggers: Iterable[Any]) -> list[Any]:
    return [lg for lg in loggers if is_aim_logger(lg)]


def aim_runs(loggers: Iterable[Any]) -> list[Any]:
    """The Aim runs behind any AimLogger among the loggers."""
    return [lg.experiment for lg in aim_loggers(loggers)]


def is_aim_logger(logger: Any) -> bool:
    return type(logger).__name__ == "AimLogger"


def aim_run_hash(loggers: Iterable[Any]) -> str | None:
    return next((lg.version for lg in aim_loggers(loggers)), None)


# -- naming ---------------------------------------------------------------------------------
def job_overrides() -> list[str]:
    """The task overrides of the running Hydra job (``[]`` outside Hydra)."""
    if not HydraConfig.initialized():
        return []
    return [str(item) for item in HydraConfig.get().overrides.task]


def sweep_dir() -> str | None:
    """The multirun folder of the running Hydra job, as ``sweep_id`` writes it; None for a
    single run."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return sweep_id(HydraConfig.get().sweep.dir)


def sweep_id(folder: str | Path) -> str:
    """A sweep's id: its folder relative to the current folder (the project root, where the
    commands run) when below it, else absolute; the same whether the folder is given relative
    or absolute, so ``python -m src.aim_view sweep=<the printed path>`` finds its runs."""
    path = Path(folder).expanduser().resolve()
    with contextlib.suppress(ValueError):
        return path.relative_to(Path.cwd().resolve()).as_posix()
    return path.as_posix()


def override_values(overrides: Sequence[str]) -> dict[str, str]:
    """``key=value`` overrides as a mapping (later ones win), leaving out where output goes."""
    values: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.lstrip("+~")
        if sep and key.split(".")[0].split("/")[0] not in NAME_NOISE:
            values[key] = value
    return values


def _config_groups() -> set[str]:
    if not HydraConfig.initialized():
        return set()
    return {str(group) for group in HydraConfig.get().runtime.choices}


def _short(value: str) -> str:
    """Long floats (an Optuna trial's learning rate) to four significant digits."""
    if len(value) > 8 and any(c in value for c in ".eE"):
        with contextlib.suppress(ValueError):
            return f"{float(value):.4g}"
    return value


def _short_key(key: str) -> str:
    """``model.optimizer.lr`` -> ``lr``; a switch ``callbacks.plots.enabled`` -> ``plots``."""
    parts = key.split(".")
    return parts[-2] if parts[-1] == "enabled" and len(parts) > 1 else parts[-1]


def name_from_overrides(
    overrides: Sequence[str], groups: Iterable[str] = (), default: str = "run"
) -> str:
    """A run's name from its overrides: config-group choices by their value, other keys by
    their last component (a switch's ``enabled`` by what it switches; the full key where two
    would read the same), a later override of a key replacing an earlier one. Where output
    goes (paths, logger, results file, checkpoints) and path-like values are left out;
    ``default`` when nothing is left."""
    groups = set(groups)
    values: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.lstrip("+")
        if not sep or key.split(".")[0].split("/")[0] in NAME_NOISE or "/" in value:
            continue
        values.pop(key, None)
        values[key] = value
    last = [_short_key(key) for key in values]
    parts = []
    for key, value in values.items():
        short = _short_key(key)
        if key in groups:
            parts.append(value)
        else:
            parts.append(f"{short if last.count(short) == 1 else key}={_short(value)}")
    return " ".join(parts) or default


# -- the Lightning logger -------------------------------------------------------------------
class AimLogger(AimLightningLogger):
    """Aim's Lightning logger, keeping one Aim run open across fit, validate and test.

    Lightning finalises loggers after every stage; Aim's logger then closes its run and the
    next stage re-opens it with a forced lock release ("Data corruption may occur"). This one
    closes the run once, when the run lifecycle calls ``close``, and indexes it then.

    A new run is named from the Hydra job's overrides unless ``run_name`` is given, and gets
    ``tags`` and the ``overrides``; in a multirun also the sweep's id (``sweep``, and the tag
    ``sweep:<id>``) and the job's values (``swept``, and a ``key=value`` tag each). Inside
    ``scoring`` its metrics are one checkpoint's scores (see ``scoring``).
    """

    def __init__(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        *,
        run_name: str | None = None,
        tags: Iterable[str] | None = (),
        **kwargs: Any,
    ) -> None:
        self.overrides = job_overrides()
        self.sweep = sweep_dir()
        if run_name is None and kwargs.get("run_hash") is None:
            run_name = name_from_overrides(self.overrides, _config_groups(), experiment or "run")
        super().__init__(repo, experiment, run_name=run_name, **kwargs)
        self.tags = [str(tag) for tag in tags or ()]
        #: extra context of the metrics logged now (``scoring``)
        self.score_context: dict[str, str] = {}

    @property
    def experiment(self) -> Any:
        new = self._run is None and self._run_hash is None
        run = super().experiment
        if new and self._run is not None:  # rank 0 opened a new run: describe it once
            for tag in self.tags:
                run.add_tag(tag)
            run["overrides"] = self.overrides
            if self.sweep:  # the sweep's id and this job's values, as a param and as tags
                run["sweep"] = self.sweep
                values = override_values(self.overrides)
                run["swept"] = values
                run.add_tag(f"sweep:{self.sweep}")
                for key, value in values.items():
                    run.add_tag(f"{key}={value}")
        return run

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Lightning's metrics by context. Points of the training curves are tracked as
        series; the scores of one checkpoint (inside ``scoring``, or a ``base/`` or
        ``improvement/`` prefix) are run params under ``scores`` (``score_key``), so they
        neither extend the epoch curves nor crowd the Metrics explorer with one-point series."""
        curves: dict[str, float] = {}
        for key, value in metrics.items():
            name, context = self.parse_context(key)
            context = {**self.score_context, **context}
            if not SCORE_CONTEXT.intersection(context):
                curves[key] = value
            elif key != "epoch":
                set_scores(self.experiment, {name: value}, context)
        if curves:
            super().log_metrics(curves, step)

    def finalize(self, status: str = "") -> None:
        """Per-stage finalize: keep the run open (see the class docstring)."""

    def close(self, status: str = "success", index: bool = True) -> None:
        """Close the Aim run for good (its status stored as a param) and index it."""
        run = self._run
        if run is None:
            return
        run.set("status", status, strict=False)
        run_hash = run.hash
        super().finalize(status)
        if index:
            reindex(self._repo_path, [run_hash])

    def __del__(self) -> None:
        # at interpreter shutdown there may be nothing left to report to, nor to index with
        with contextlib.suppress(Exception):
            self.close("finished", index=False)


#: context keys that mark the scores of one checkpoint, not points of a curve
SCORE_CONTEXT = frozenset({"checkpoint", "relative_to"})
#: the order of the context in a score's param path (``score_key``)
SCORE_PATH = ("checkpoint", "relative_to", "subset", "thresholds", "calibration")


def score_key(name: str, context: Mapping[str, Any]) -> tuple[str, ...]:
    """Where a score lives among the run's params: ``scores``, then its context in a fixed
    order, then its name. ``test/auc_macro`` of the best checkpoint ->
    ``scores.best.test.auc_macro``; at the tuned thresholds ``scores.best.test.tuned.f1_macro``;
    at a default threshold of 0.3 ``scores.best.test.at_0_3.f1_macro``; after temperature
    scaling ``scores.best.test.temperature.ece.macro``; the gain over the untrained model
    ``scores.best.vs_untrained.test.auc_macro``."""
    parts = ["scores"]
    for field in SCORE_PATH:
        value = context.get(field)
        if value is None:
            continue
        value = str(value)
        if field == "relative_to":
            value = f"vs_{value}"
        elif field == "thresholds" and value != "tuned":
            value = "at_" + value.replace(".", "_")
        parts.append(value)
    return (*parts, *name.split("/"))


def set_scores(run: Any, scores: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    """Each finite score as a run param at ``score_key`` (one number per run and context)."""
    for name, value in scores.items():
        if isinstance(value, int | float) and math.isfinite(value):
            run.set(score_key(name, context), float(value), strict=False)


@contextlib.contextmanager
def scoring(loggers: Iterable[Any], checkpoint: str) -> Iterator[None]:
    """Within: what the loggers get are the scores of one checkpoint (``best``), not points
    of the training curves. Aim tracks them under ``{subset, checkpoint: <checkpoint>}`` with
    no epoch, so the best checkpoint's validation after fit is not an extra epoch."""
    targets = aim_loggers(loggers)
    for logger in targets:
        logger.score_context = {"checkpoint": checkpoint}
    try:
        yield
    finally:
        for logger in targets:
            logger.score_context = {}
