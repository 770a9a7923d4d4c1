"""One run from start to finish, the same for train, eval, baseline and active learning.

``Run`` checks the hardware, seeds every generator, and writes the folder's record:
``config.yaml`` (resolved), ``run_info.json`` (seed, git commit, packages, data hashes),
``metrics.json`` and one row of the results CSV. ``run_job`` is what every entry point does
with its job: a failure is recorded in the run folder (``metrics.json`` with status ``failed``
and ``traceback.txt``); in a sweep the other jobs go on, a single run fails in one line.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import lightning.pytorch as L
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from src.config import check_accelerator, check_config, instantiate_group
from src.errors import cause_chain_error, report_user_errors
from src.runs.files import (
    METRICS_FILE,
    RUN_INFO_FILE,
    record_result,
    run_info,
    scalar_metrics,
    write_json,
    write_resolved_config,
)
from src.runs.tracking import aim_repos_in, aim_run_hash, ensure_aim_repo

log = logging.getLogger(__name__)
TRACEBACK_FILE = "traceback.txt"
#: set on an exception once its failure is recorded, so it is recorded only once
RECORDED = "_textlab_failure_recorded"


class Run:
    """A job's run folder: ``with Run(cfg) as run: ... return run.finish(metrics)``.

    Under DDP every rank builds one; only rank 0 writes files.
    """

    def __init__(self, cfg: DictConfig, output_dir: str | Path | None = None) -> None:
        self.cfg = cfg
        self.dir = Path(output_dir or cfg.paths.output_dir)
        self.started = time.time()
        self.writer = rank_zero_only.rank == 0
        self.loggers: list[Any] = []
        self.info: dict[str, Any] = {}
        try:
            check_config(cfg)
            if cfg.get("trainer") is not None:
                check_accelerator(cfg.trainer)
            L.seed_everything(cfg.seed, workers=True, verbose=False)
        except BaseException as error:
            self.fail(error)
            raise

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None:
            self.fail(error)
        self.close_loggers("success" if error is None else "failed")

    def fail(self, error: BaseException) -> None:
        """Record a failure once: metrics.json (failed or interrupted), traceback.txt and the
        results row (rank 0)."""
        if getattr(error, RECORDED, False) or isinstance(error, SystemExit):
            return
        if self.writer:
            record_failure(self.dir, error)
            record_result(self.cfg, error=cause_chain_error(error) or error)
        with contextlib.suppress(AttributeError):  # some built-in exceptions take no attributes
            setattr(error, RECORDED, True)

    def record_start(self, data_files: list[Path], loggers: bool = True) -> None:
        """Write ``config.yaml`` and ``run_info.json``; open the loggers and give them both."""
        self.info = run_info(self.cfg.seed, data_files, self.cfg.paths.root_dir)
        if self.writer:
            write_resolved_config(self.cfg, self.dir)
            write_json(self.dir / RUN_INFO_FILE, self.info)
        if loggers:
            for repo in aim_repos_in(self.cfg.get("logger")):
                ensure_aim_repo(repo)
            self.loggers = instantiate_group(self.cfg.get("logger"))
            config = OmegaConf.to_container(self.cfg, resolve=True)
            for logger in self.loggers:
                logger.log_hyperparams({"config": config, "run": self.info})

    def finish(self, metrics: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Write ``metrics.json`` and the results row; returns the summary. The loggers stay
        open for what comes after (the analyses) and close when the ``with`` block ends."""
        summary = {"status": "success", "metrics": scalar_metrics(metrics), **fields}
        if not self.writer:  # DDP: rank 0 records the run
            return {**summary, "rank": rank_zero_only.rank}
        summary["wall_time_s"] = round(time.time() - self.started, 1)
        summary["aim_run_hash"] = aim_run_hash(self.loggers)
        write_json(self.dir / METRICS_FILE, summary)
        record_result(self.cfg, summary)
        return summary

    def close_loggers(self, status: str) -> None:
        for logger in self.loggers:
            getattr(logger, "close", logger.finalize)(status)  # Aim: write the run out for good
        self.loggers = []


def record_failure(output_dir: str | Path, error: BaseException) -> dict[str, Any]:
    """Write ``metrics.json`` with status ``failed`` (or ``interrupted``) and the error, plus
    the full traceback."""
    output_dir = Path(output_dir)
    user_error = cause_chain_error(error)
    message = str(user_error) if user_error else f"{type(error).__name__}: {error}"
    status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
    summary = {"status": status, "error": message, "metrics": {}}
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / TRACEBACK_FILE).write_text("".join(traceback.format_exception(error)))
        write_json(output_dir / METRICS_FILE, summary)
    except OSError as err:  # a read-only or full disk must not hide the original error
        log.warning("cannot record the failure in %s: %s", output_dir, err)
    log.error("job %s: %s (traceback in %s)", status, message, output_dir / TRACEBACK_FILE)
    return summary


def in_sweep() -> bool:
    """Whether this process runs a job of a Hydra multirun (``-m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_job(
    job: Callable[[DictConfig], dict[str, Any]], cfg: DictConfig, output_dir: str | Path
) -> dict[str, Any] | None:
    """Run an entry point's job. A failure is recorded in the job's folder and its results
    row (rank 0); in a multirun ``None`` comes back so the sweep goes on, a single run fails
    loudly (a user error as one line)."""
    with report_user_errors():
        try:
            return job(cfg)
        except BaseException as error:
            recorded = getattr(error, RECORDED, False) or isinstance(error, SystemExit)
            if rank_zero_only.rank == 0 and not recorded:  # it failed before its Run began
                record_failure(output_dir, error)
                record_result(cfg, error=cause_chain_error(error) or error)
            if in_sweep() and isinstance(error, Exception):
                return None
            raise
