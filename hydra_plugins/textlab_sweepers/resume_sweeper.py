"""Finish an interrupted grid sweep: ``-m <the same overrides> hydra/sweeper=resume
hydra.sweep.dir=<its folder>`` runs only the jobs whose folder holds no successful run.

The plan (every job and its number) is the basic sweeper's, recomputed from the command and
checked against the folder's ``multirun.yaml``, which is kept as it was: ``src.compare`` then
reads one sweep. A finished job's folder is not touched; a failed, interrupted, unfinished or
never-started one runs again in its own folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from ._numbered_jobs import launch_numbered

log = logging.getLogger(__name__)
PLAN_FILE = "multirun.yaml"
JOB_NUMBER_SUBDIR = "${hydra.job.num}"


class ResumeSweeper(BasicSweeper):
    """The basic sweeper, less the jobs a sweep folder already finished."""

    def __init__(self, max_batch_size: int | None = None, params: Any = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)

    def sweep(self, arguments: list[str]) -> Any:
        from src.errors import report_user_errors

        with report_user_errors():
            return self._resume(arguments)

    def _resume(self, arguments: list[str]) -> list[Sequence[Any]]:
        from src.errors import TextlabError

        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        subdir = OmegaConf.to_container(self.config.hydra.sweep)["subdir"]
        if subdir != JOB_NUMBER_SUBDIR:
            raise TextlabError(
                f"hydra.sweep.subdir is {subdir!r}: resuming finds jobs by number, so leave it "
                f"at {JOB_NUMBER_SUBDIR}"
            )
        jobs = self.plan([*self._parse_config(), *arguments])
        check_same_plan(sweep_dir, jobs)
        states = [job_state(sweep_dir / str(number)) for number in range(len(jobs))]
        todo = [
            (n, job)
            for n, (job, state) in enumerate(zip(jobs, states, strict=True))
            if state not in ("success", "running")
        ]
        log.info(
            "resuming %s: %d of %d jobs finished, %d to run (%s)",
            sweep_dir,
            states.count("success"),
            len(jobs),
            len(todo),
            ", ".join(f"{n}: {states[n]}" for n, _ in todo) or "none",
        )
        returns = []
        size = self.max_batch_size or max(len(todo), 1)
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            self.validate_batch_is_legal([job for _, job in batch])
            results = launch_numbered(self.launcher, batch)
            for result in results:
                _ = result.return_value  # a job that raised stops the sweep, as in Hydra's
            returns.append(results)
        return returns

    def plan(self, params: list[str]) -> list[list[str]]:
        """Every job's overrides, in job-number order (the basic sweeper's order)."""
        config_loader = self.hydra_context.config_loader if self.hydra_context else None
        overrides = OverridesParser.create(config_loader=config_loader).parse_overrides(params)
        return [list(job) for batch in self.split_arguments(overrides, None) for job in batch]


def check_same_plan(sweep_dir: Path, jobs: list[list[str]]) -> None:
    """Refuse to resume into a folder that is not a sweep, or a sweep of other jobs."""
    from src.errors import TextlabError

    plan_file = sweep_dir / PLAN_FILE
    if not plan_file.is_file():
        raise TextlabError(
            f"{plan_file} not found: set hydra.sweep.dir to the folder of the sweep to resume"
        )
    recorded = OmegaConf.load(plan_file).hydra
    params = [f"{k}={v}" for k, v in (recorded.sweeper.get("params") or {}).items()]
    earlier = ResumeSweeper().plan([*params, *recorded.overrides.task])
    if earlier != jobs:
        first = next(
            (n for n, pair in enumerate(zip(earlier, jobs, strict=False)) if pair[0] != pair[1]),
            min(len(earlier), len(jobs)),
        )
        was = earlier[first] if first < len(earlier) else []
        now = jobs[first] if first < len(jobs) else []
        was_only = " ".join(o for o in was if o not in now) or "-"
        now_only = " ".join(o for o in now if o not in was) or "-"
        raise TextlabError(
            f"{plan_file} planned other jobs ({len(earlier)}, this command {len(jobs)}); job "
            f"{first} had '{was_only}', this command '{now_only}': resume with the sweep's own "
            "overrides, in their order"
        )


def job_state(folder: Path) -> str:
    """``success``, ``failed``, ``interrupted``, ``running`` (its process lives on this host),
    ``unfinished`` (a folder without a record) or ``not started`` (no folder)."""
    from src.runs.status import run_status

    if not folder.is_dir():
        return "not started"
    record = run_status(folder)
    if record is None:
        return "unfinished"
    status = str(record.get("status"))
    if status == "running" and record.get("host") != _host():
        log.warning(
            "%s says it runs on %s (pid %s); running it again here",
            folder,
            record.get("host"),
            record.get("pid"),
        )
        return "interrupted"
    if status == "running":
        log.warning("%s is still running (pid %s); leaving it alone", folder, record.get("pid"))
    return status


def _host() -> str:
    import socket

    return socket.gethostname()
