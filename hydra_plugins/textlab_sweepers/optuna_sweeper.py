"""An Optuna search whose study lives in a journal file, so it survives its process and can be
shared: ``-m hparams_search=optuna`` (``conf/hydra/sweeper/optuna_journal.yaml``).

The journal (``<sweep folder>/optuna.journal`` unless ``storage`` names a file) is Optuna's
``JournalFileBackend``: an append-only log behind a file lock, no database and no SQLAlchemy.
Every process started with the same ``hydra.sweep.dir`` (or ``storage``) and ``study_name``
works on the same study until it holds ``n_trials`` trials; a trial's run folder is its number.

- Resume: the same command again. A trial whose process died on this host (killed) is marked
  failed and asked again with the same parameters, in the same run folder.
- Workers: each asks, runs and reports its own trials; each has its own sampler seed
  (``seed`` + the order in which it joined the study), so they do not propose the same points.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from ._numbered_jobs import launch_numbered

log = logging.getLogger(__name__)
# Optuna's storages import alembic, which logs "setup plugin ..." at INFO for each of its
# plugins: seven lines of chatter in every sweep's console
logging.getLogger("alembic").setLevel(logging.WARNING)
JOURNAL_FILE = "optuna.journal"
RESULTS_FILE = "optimization_results.yaml"
#: user attributes of a trial: who runs it, which run folder, which earlier trial it redoes
HOST, PID, JOB, RETRY_OF, SURPLUS = "host", "pid", "job", "retry_of", "surplus"
WORKER = "worker:"


class OptunaJournalSweeper(Sweeper):
    """Hydra sweeper over an Optuna study in a journal file."""

    def __init__(
        self,
        sampler: Callable[..., Any],
        direction: str,
        study_name: str,
        n_trials: int,
        n_jobs: int = 1,
        storage: str | None = None,
        params: DictConfig | None = None,
    ) -> None:
        self.make_sampler = sampler
        self.direction = direction
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.storage = storage
        self.params = params or {}
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        import optuna

        assert self.config is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        journal = Path(self.storage) if self.storage else sweep_dir / JOURNAL_FILE
        space, fixed = search_space([*(f"{k}={v}" for k, v in self.params.items()), *arguments])
        study = optuna.create_study(
            study_name=self.study_name,
            storage=journal_storage(journal),
            direction=self.direction,
            load_if_exists=True,
        )
        rank = join(study)
        study.sampler = self.make_sampler(seed=sampler_seed(self.make_sampler, rank))
        retried = retry_dead_trials(study)
        log.info(
            "study %r in %s: worker %d, %d of %d trials counted, %d to ask again",
            self.study_name,
            journal,
            rank,
            len(counted(study)),
            self.n_trials,
            retried,
        )
        while True:
            batch = self.ask(study, space)
            if not batch:
                break
            jobs = [(job_number(trial), [*overrides_of(trial), *fixed]) for trial in batch]
            order = sorted(range(len(batch)), key=lambda i: jobs[i][0])
            returns = launch_numbered(self.launcher, [jobs[i] for i in order])
            for i, result in zip(order, returns, strict=True):
                tell(study, batch[i], result)
        write_results(study, sweep_dir / RESULTS_FILE, journal)

    def ask(self, study: Any, space: dict[str, Any]) -> list[Any]:
        """Up to ``n_jobs`` new trials, none beyond the study's ``n_trials``."""
        batch = []
        for _ in range(self.n_jobs):
            if len(counted(study)) >= self.n_trials:
                break
            trial = study.ask()
            for name, distribution in space.items():
                suggest(trial, name, distribution)
            trial.set_user_attr(HOST, socket.gethostname())
            trial.set_user_attr(PID, os.getpid())
            if RETRY_OF not in trial.user_attrs:
                trial.set_user_attr(JOB, trial.number)
                earlier = [t.number for t in counted(study) if t.number < trial.number]
                if len(earlier) >= self.n_trials:  # another worker asked the last one first
                    trial.set_user_attr(SURPLUS, True)
                    study.tell(trial, state=optuna_state("FAIL"))
                    break
            batch.append(trial)
        return batch


def journal_storage(path: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def optuna_state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


def join(study: Any) -> int:
    """Register this process with the study; returns how many joined before it (the journal
    orders them)."""
    me = f"{WORKER}{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
    study.set_user_attr(me, True)
    workers = [key for key in study.user_attrs if key.startswith(WORKER)]
    return workers.index(me)


def sampler_seed(make_sampler: Callable[..., Any], rank: int) -> int | None:
    """The configured seed for the study's first worker, the next ones for later workers."""
    seed = getattr(make_sampler, "keywords", {}).get("seed")
    return None if seed is None else int(seed) + rank


def counted(study: Any) -> list[Any]:
    """The trials that count towards ``n_trials``: asked or finished, less those asked again
    (a dead process's) and those asked past the end."""
    trials = study.get_trials(deepcopy=False)
    redone = {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}
    return [
        t
        for t in trials
        if t.state != optuna_state("WAITING")
        and t.number not in redone
        and not t.user_attrs.get(SURPLUS)
    ]


def retry_dead_trials(study: Any) -> int:
    """Fail the running trials whose process is gone on this host and queue their
    parameters again (same run folder); returns how many."""
    from src.runs.status import process_alive

    here = socket.gethostname()
    retried = 0
    for trial in study.get_trials(deepcopy=False, states=(optuna_state("RUNNING"),)):
        if trial.user_attrs.get(HOST) != here or process_alive(trial.user_attrs.get(PID)):
            continue
        try:
            study.tell(trial.number, state=optuna_state("FAIL"))
        except (RuntimeError, ValueError):  # another worker got there first
            continue
        job = trial.user_attrs.get(JOB, trial.number)
        study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number, JOB: job})
        retried += 1
    return retried


def job_number(trial: Any) -> int:
    return int(trial.user_attrs.get(JOB, trial.number))


def tell(study: Any, trial: Any, result: Any) -> None:
    """Report a job's objective; a failed job (NaN, None or an exception) fails its trial."""
    try:
        value = float(result.return_value)
    except Exception:  # noqa: BLE001  (the job's failure is recorded in its run folder)
        value = math.nan
    if math.isfinite(value):
        study.tell(trial, value)
    else:
        study.tell(trial, state=optuna_state("FAIL"))


def write_results(study: Any, path: Path, journal: Path) -> None:
    """``optimization_results.yaml``: the best trial so far and where the study lives."""
    complete = study.get_trials(deepcopy=False, states=(optuna_state("COMPLETE"),))
    if not complete:
        log.warning("no trial of study %r finished; %s not written", study.study_name, path)
        return
    best = study.best_trial
    results = {
        "name": "optuna",
        "study_name": study.study_name,
        "storage": str(journal),
        "best_params": best.params,
        "best_value": best.value,
        "best_job": job_number(best),
        "n_complete": len(complete),
    }
    OmegaConf.save(OmegaConf.create(results), path)
    log.info("best value %s (job %s): %s", best.value, job_number(best), best.params)


def search_space(params: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Hydra sweep overrides as Optuna distributions: ``interval`` and ``tag(log, interval(...))``
    as floats, ``choice`` and ``range`` as their values; plain overrides come back as fixed
    overrides."""
    space: dict[str, Any] = {}
    fixed: list[str] = []
    for override in OverridesParser.create().parse_overrides(list(params)):
        key = override.get_key_element()
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed.append(f"{key}={override.get_value_element_as_str()}")
    return space, [item for item in fixed if item.split("=", 1)[0] not in space]


def distribution(override: Override) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if override.is_interval_sweep():  # Hydra's intervals are floats; range() lists integers
        value = override.value()
        return FloatDistribution(value.start, value.end, log="log" in value.tags)
    # choice(...) and range(...): the listed values
    return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))


def suggest(trial: Any, name: str, distribution: Any) -> Any:
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)


def overrides_of(trial: Any) -> list[str]:
    return [f"{name}={value}" for name, value in trial.params.items()]
