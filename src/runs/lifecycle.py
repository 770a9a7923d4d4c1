"""One run from start to finish, the same for train, eval, baseline and active learning.

``Run`` checks the hardware, seeds every generator, and writes the folder's record:
``config.yaml`` (resolved), ``run_info.json`` (seed, git commit, packages, data hashes),
``metrics.json`` and one row of the results CSV. ``run_job`` is what every entry point does
with its job: a failure is recorded in the run folder (``metrics.json`` with status ``failed``
and ``traceback.txt``); in a sweep the other jobs go on, a single run fails in one line (a full
disk or a folder it may not write included). ``metrics.json`` says ``running`` while the run
runs, so a folder whose process was killed outright reads as ``interrupted``
(``src.runs.status.run_status``); a run resumed from it marks it so
(``src.runs.status.mark_resumed``).
``CheckRunFolder`` (a Hydra callback) stops a run whose logs folder cannot be written before
Hydra creates the run folder in it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import lightning.pytorch as L
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback as HydraCallback
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from src.config import build, check_accelerator, check_config
from src.errors import MESSAGE_CHARS, TextlabError, cause_chain_error, report_user_errors, shorten
from src.runs.folder import METRICS_FILE, RUN_INFO_FILE, read_json_file, write_json
from src.runs.provenance import run_info, write_resolved_config
from src.runs.results import record_result, scalar_metrics
from src.runs.status import RUNNING, run_status, running_record
from src.tracking.logger import aim_run_hash
from src.tracking.repo import aim_repos_in, ensure_aim_repo, is_aim_node

log = logging.getLogger(__name__)
TRACEBACK_FILE = "traceback.txt"
#: set on an exception once its failure is recorded, so it is recorded only once
RECORDED = "_textlab_failure_recorded"


def global_rank() -> int:
    """This process's DDP rank (0 outside DDP), as Lightning sets it on ``rank_zero_only``."""
    return rank_zero_only.rank  # type: ignore[attr-defined]  # set at import, not in its stubs


class Run:
    """A job's run folder: ``with Run(cfg) as run: ... return run.finish(metrics)``.

    Under DDP every rank builds one; only rank 0 writes files.
    """

    def __init__(
        self, cfg: DictConfig, output_dir: str | Path | None = None, continues: bool = False
    ) -> None:
        """``continues``: the run goes on in a folder an earlier process of it wrote (an
        active-learning resume); any other run refuses a folder that holds a finished run."""
        self.cfg = cfg
        self.dir = Path(output_dir or cfg.paths.output_dir)
        self.started = time.time()
        self.writer = pin_node_rank(cfg) == 0
        self.loggers: list[Any] = []
        self.info: dict[str, Any] = {}
        #: wall seconds by phase (``phase``), written into metrics.json
        self.phases: dict[str, float] = {}
        problem = None if continues or not self.writer else taken_folder_problem(self.dir)
        if problem:
            raise refusal(problem)
        try:
            check_config(cfg)
            if cfg.get("trainer") is not None:
                check_accelerator(cfg.trainer)
            L.seed_everything(cfg.seed, workers=True, verbose=False)
            if self.writer:  # a run killed outright still leaves a record of itself
                write_json(self.dir / METRICS_FILE, running_record(self.started))
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

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time what runs inside as the phase ``name`` (added up when entered again)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.phases[name] = round(self.phases.get(name, 0.0) + elapsed, 2)

    def record_start(
        self,
        data_files: list[Path],
        loggers: bool = True,
        aim_run: str | None = None,
        record: bool = True,
    ) -> None:
        """Write ``config.yaml`` and ``run_info.json``; open the loggers and give them both.
        ``aim_run``: the hash of an Aim run to continue (a resumed run's earlier one);
        ``record=False``: the folder keeps the files an earlier process of the run wrote."""
        self.info = run_info(self.cfg.seed, data_files, self.cfg.paths.root_dir)
        if self.writer and record:
            write_resolved_config(self.cfg, self.dir)
            write_json(self.dir / RUN_INFO_FILE, self.info)
        if not loggers:
            return
        for repo in aim_repos_in(self.cfg.get("logger")):
            ensure_aim_repo(repo)
        for node in (self.cfg.get("logger") or {}).values():
            if isinstance(node, DictConfig) and "_target_" in node:
                extra = {"run_hash": aim_run} if aim_run and is_aim_node(node) else {}
                self.loggers.append(build(node, **extra))
        config = OmegaConf.to_container(self.cfg, resolve=True)
        for logger in self.loggers:
            logger.log_hyperparams({"config": config, "run": self.info})
        aim_hash = aim_run_hash(self.loggers)
        if self.writer and aim_hash:  # a killed run's folder still names its Aim run
            running = {**running_record(self.started), "aim_run_hash": aim_hash}
            write_json(self.dir / METRICS_FILE, running)

    def finish(self, metrics: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Write ``metrics.json`` and the results row; returns the summary. The loggers stay
        open for what comes after (the analyses) and close when the ``with`` block ends."""
        summary = {"status": "success", "metrics": scalar_metrics(metrics), **fields}
        if not self.writer:  # DDP: rank 0 records the run
            return {**summary, "rank": global_rank()}
        summary["wall_time_s"] = round(time.time() - self.started, 1)
        summary["phases_s"] = dict(self.phases)
        summary["aim_run_hash"] = aim_run_hash(self.loggers)
        write_json(self.dir / METRICS_FILE, summary)
        record_result(self.cfg, summary)
        return summary

    def add_metrics(self, summary: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        """``summary`` (what ``finish`` returned) with more scores, found after it (the
        analyses'): metrics.json is written again; the results row stays as it was."""
        summary = {**summary, "metrics": {**summary["metrics"], **scalar_metrics(metrics)}}
        if "phases_s" in summary:  # phases timed after finish (the analyses)
            summary["phases_s"] = dict(self.phases)
            summary["wall_time_s"] = round(time.time() - self.started, 1)
        if self.writer:
            write_json(self.dir / METRICS_FILE, summary)
        return summary

    def close_loggers(self, status: str) -> None:
        for logger in self.loggers:
            getattr(logger, "close", logger.finalize)(status)  # Aim: write the run out for good
        self.loggers = []


def record_failure(output_dir: str | Path, error: BaseException) -> dict[str, Any]:
    """Write ``metrics.json`` with status ``failed`` (or ``interrupted``) and the error, plus
    the full traceback; both quote at most ``MESSAGE_CHARS`` of any message (an error may
    quote user data)."""
    output_dir = Path(output_dir)
    user_error = cause_chain_error(error) or disk_error(error)
    message = shorten(str(user_error) if user_error else f"{type(error).__name__}: {error}")
    status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
    # scores the run recorded before it failed (e.g. in the after-fit analyses) are kept
    earlier = read_json_file(output_dir / METRICS_FILE)
    kept = earlier.get("metrics") if isinstance(earlier, dict) else None
    summary = {
        "status": status,
        "error": message,
        "metrics": kept if isinstance(kept, dict) else {},
    }
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / TRACEBACK_FILE).write_text(short_traceback(error))
        write_json(output_dir / METRICS_FILE, summary)
    except OSError as err:  # a read-only or full disk must not hide the original error
        log.warning("cannot record the failure in %s: %s", output_dir, err)
    # a user error is printed as one line by the entry point; a sweep has no such line
    level = logging.ERROR if user_error is None or in_sweep() else logging.DEBUG
    log.log(level, "job %s: %s (traceback in %s)", status, message, output_dir / TRACEBACK_FILE)
    return summary


def short_traceback(error: BaseException) -> str:
    """The full traceback of ``error``, every line of it at most ``MESSAGE_CHARS`` long (the
    messages in it may quote megabytes of user data)."""
    lines = "".join(traceback.format_exception(error)).splitlines()
    return "\n".join(line if len(line) <= MESSAGE_CHARS else shorten(line) for line in lines) + "\n"


#: errno -> what to do when a run cannot write its files
DISK_ADVICE = {
    errno.ENOSPC: "free some space, or set paths.log_dir / paths.cache_dir to another disk",
    errno.EDQUOT: "free some space, or set paths.log_dir / paths.cache_dir to another disk",
    errno.EROFS: "set paths.log_dir (or paths.cache_dir) to a folder you can write",
    errno.EACCES: "make it writable, or set paths.log_dir (or paths.cache_dir) to a folder you "
    "can write",
    errno.EPERM: "make it writable, or set paths.log_dir (or paths.cache_dir) to a folder you "
    "can write",
}


def disk_error(error: BaseException | None) -> TextlabError | None:
    """A full disk, a read-only file system or a missing permission anywhere in ``error``'s
    cause chain, as one line naming the file and what to do; None for any other error."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_ADVICE:
            where = f"{error.filename}: " if error.filename else ""
            reason = error.strerror or os.strerror(error.errno)
            return TextlabError(f"{where}{reason}; {DISK_ADVICE[error.errno]}")
        error = error.__cause__ or error.__context__
    return None


class CheckRunFolder(HydraCallback):
    """Stop in one line, before Hydra creates the run (or sweep) folder, when the logs folder
    cannot be written (read-only, no permission, disk full): Hydra would fail with a traceback.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "run")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "sweep")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        # a disk that fills up mid-run must fail the run in one line, not print a logging
        # traceback for every line logged to the run's log file
        logging.raiseExceptions = False
        _stop(placement_problem(config))

    @staticmethod
    def _check(config: DictConfig, mode: str) -> None:
        if not HydraConfig.initialized():  # ${hydra:...} interpolations need it
            HydraConfig.instance().set_config(config)
        task_name = str(OmegaConf.select(config, "task_name", default="") or "")
        if task_name and not TASK_NAME.fullmatch(task_name):
            _stop(placement_problem(config))
        try:
            folder = Path(str(config.hydra[mode].dir))
        except Exception:  # noqa: BLE001  (an interpolation Hydra itself will report)
            return
        if not _continues(config):  # before Hydra writes its files into the folder
            _stop(taken_folder_problem(folder))
        _stop(folder_problem(folder))


def _stop(problem: str | None) -> None:
    """Stop the process with ``problem`` as one line (a Hydra callback cannot raise a
    TextlabError to an entry point)."""
    if problem:
        print(f"error: {problem}", file=sys.stderr, flush=True)
        raise SystemExit(2)


def folder_problem(folder: Path) -> str | None:
    """Why a run cannot write into ``folder`` (created if needed), or None when it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except FileExistsError as err:
        return f"{err.filename}: exists and is not a folder; set paths.log_dir to a folder"
    except OSError as err:
        if err.filename is None:
            err.filename = str(folder)
        user_error = disk_error(err)
        return str(user_error) if user_error else f"cannot write to {folder}: {err}"
    return None


#: ``metrics.json`` statuses of a run that is done: no other run may write over it
FINISHED = ("success", "finished", "paused")
#: a task_name is one folder name under the logs folder (no ``/``, no ``..``)
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def refusal(message: str) -> TextlabError:
    """The error of a run that refuses to start in a folder that is not its own: it is
    recorded nowhere (not in that folder, not in the results CSV)."""
    error = TextlabError(message)
    setattr(error, RECORDED, True)
    return error


def taken_folder_problem(folder: Path) -> str | None:
    """Why a new run must not write into ``folder``: it holds a finished run, or a run whose
    process still runs on this host; None when it is new, empty, or holds a run that failed or
    was interrupted (a sweep resume runs those again)."""
    record = run_status(folder)
    if record is None:
        return None
    status = record.get("status")
    if status in FINISHED:
        return (
            f"{folder} holds a finished run (metrics.json says {status!r}); a run never writes "
            "over another: leave hydra.run.dir and paths.output_dir unset (each run gets a new "
            "folder) or name a new folder"
        )
    pid = record.get("pid")
    if status == RUNNING and record.get("host") == socket.gethostname() and pid != os.getpid():
        return (
            f"{folder} belongs to a run still going (process {pid}); wait for it, or name "
            "another folder"
        )
    return None


def _below(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies strictly inside ``folder`` (links resolved, ``..`` undone)."""
    path, folder = path.expanduser().resolve(), folder.expanduser().resolve()
    return path != folder and path.is_relative_to(folder)


def placement_problem(config: DictConfig) -> str | None:
    """Why a job's overrides would put its files where they do not belong: a ``task_name``
    that is not one folder name, or a run folder (``paths.output_dir``, ``active.run_dir``)
    outside the logs folder (``paths.log_dir``) other than the one Hydra made for the job.
    The logs folder itself may be anywhere, and so may Hydra's run folder, which
    ``hydra.run.dir`` / ``hydra.sweep.dir`` name (a new, failed or interrupted one)."""
    task_name = str(OmegaConf.select(config, "task_name", default="") or "")
    if task_name and not TASK_NAME.fullmatch(task_name):
        return (
            f"task_name={task_name[:80]!r} is not a folder name (letters, digits, '_', '-', "
            "'.', '+'; no '/' and no '..'); it names the run's folder under paths.log_dir"
        )
    try:
        log_dir = Path(str(config.paths.log_dir))
        hydra_dir = OmegaConf.select(config, "hydra.runtime.output_dir", default=None)
        named = {"paths.output_dir": OmegaConf.select(config, "paths.output_dir", default=None)}
        named["active.run_dir"] = OmegaConf.select(config, "active.run_dir", default=None)
    except Exception:  # noqa: BLE001  (an interpolation the job itself will report)
        return None
    for key, value in named.items():
        if not value:
            continue
        folder = Path(str(value))
        own = hydra_dir is not None and folder.expanduser().resolve() == Path(hydra_dir).resolve()
        if not own and not _below(folder, log_dir):
            return (
                f"{key}={str(value)[:200]} is outside the logs folder {log_dir}; a run writes "
                "only into its own folder below paths.log_dir: move the whole logs folder with "
                "paths.log_dir=..., or name the run folder with hydra.run.dir=..."
            )
    return None


def _continues(config: DictConfig) -> bool:
    """Whether the job goes on in a folder an earlier process of it wrote: an active-learning
    resume, or a DDP rank or node other than the first (they share rank 0's folder)."""
    ranks = ("RANK", "LOCAL_RANK", "NODE_RANK")
    later_rank = any(int(os.environ.get(name) or 0) > 0 for name in ranks)
    return later_rank or bool(OmegaConf.select(config, "active.resume", default=False))


def in_sweep() -> bool:
    """Whether this process runs a job of a Hydra multirun (``-m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def pin_node_rank(cfg: DictConfig) -> int:
    """This process's DDP rank, pinned before the trainer exists. A node started by hand
    (``NODE_RANK`` > 0, no ``RANK``) would count as rank 0 until the trainer starts, and write
    the run's files and results row beside node 0; Lightning later sets the same rank."""
    node = int(os.environ.get("NODE_RANK") or 0)
    if node > 0 and "RANK" not in os.environ:
        devices = OmegaConf.select(cfg, "trainer.devices", default=1)
        per_node = devices if isinstance(devices, int) and devices > 0 else 1
        rank = node * per_node + int(os.environ.get("LOCAL_RANK") or 0)
        rank_zero_only.rank = rank  # type: ignore[attr-defined]  # set at import, not in its stubs
    return global_rank()


def run_job(
    job: Callable[[DictConfig], dict[str, Any]], cfg: DictConfig, output_dir: str | Path
) -> dict[str, Any] | None:
    """Run an entry point's job. A failure is recorded in the job's folder and its results
    row (rank 0); in a multirun ``None`` comes back so the sweep goes on, a single run fails
    loudly (a user error as one line)."""
    pin_node_rank(cfg)
    with report_user_errors():
        try:
            return job(cfg)
        except BaseException as error:
            recorded = getattr(error, RECORDED, False) or isinstance(error, SystemExit)
            if global_rank() == 0 and not recorded:  # it failed before its Run began
                record_failure(output_dir, error)
                record_result(cfg, error=cause_chain_error(error) or error)
            if in_sweep() and isinstance(error, Exception):
                return None
            user_error = None if cause_chain_error(error) else disk_error(error)
            if user_error is not None:  # a full or read-only disk: one line, like bad input
                raise user_error from error
            raise
