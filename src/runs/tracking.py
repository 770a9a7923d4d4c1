"""Aim tracking: the repository, the Lightning logger, and the Hydra callback that creates it.

Several processes creating one repository at once (a parallel sweep) fail with a bare
RuntimeError, so the repository is created once in the launching process (``CreateAimRepo``)
and again, idempotently, by each run before its logger opens it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig

REMOTE_SCHEME = "aim://"


def ensure_aim_repo(path: str | Path) -> Path | None:
    """Initialise ``<path>/.aim`` unless it exists; remote ``aim://`` repos are left alone."""
    if str(path).startswith(REMOTE_SCHEME):
        return None
    from aim.sdk.repo import Repo

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / ".aim").is_dir():
        Repo.from_path(str(folder), init=True)
    return folder / ".aim"


def aim_repos_in(logger_cfg: DictConfig | None) -> list[str]:
    """The repo paths of the AimLogger entries of a logger config group."""
    if not logger_cfg:
        return []
    return [
        str(node.repo)
        for node in logger_cfg.values()
        if isinstance(node, DictConfig) and str(node.get("_target_", "")).endswith("AimLogger")
    ]


def aim_runs(loggers: Iterable[Any]) -> list[Any]:
    """The Aim runs behind any AimLogger among the loggers."""
    return [lg.experiment for lg in loggers if is_aim_logger(lg)]


def is_aim_logger(logger: Any) -> bool:
    return type(logger).__name__ == "AimLogger"


def aim_run_hash(loggers: Iterable[Any]) -> str | None:
    return next((lg.version for lg in loggers if is_aim_logger(lg)), None)


def reindex(repo: str | Path) -> None:
    """Runs become visible to the UI and to ``Repo.iter_runs`` only once indexed."""
    aim = str(Path(sys.executable).parent / "aim")
    subprocess.run(
        [aim, "storage", "--repo", str(repo), "reindex", "-y"], check=True, capture_output=True
    )


def _aim_logger_base() -> type:
    from aim.pytorch_lightning import AimLogger as Base

    return Base


class AimLogger(_aim_logger_base()):
    """Aim's Lightning logger, keeping one Aim run open across fit, validate and test.

    Lightning finalises loggers after every stage; Aim's logger then closes its run and the
    next stage re-opens it with a forced lock release ("Data corruption may occur"). This one
    closes the run once, when the run lifecycle calls ``close``.
    """

    def finalize(self, status: str = "") -> None:
        """Per-stage finalize: keep the run open (see the class docstring)."""

    def close(self, status: str = "success") -> None:
        """Close the Aim run for good; the run's status is stored as a param."""
        if self._run is not None:
            self._run.set("status", status, strict=False)
        super().finalize(status)

    def __del__(self) -> None:
        # at interpreter shutdown there may be nothing left to report to
        with contextlib.suppress(Exception):
            self.close("finished")


class CreateAimRepo(HydraCallback):
    """Create the Aim repo in the launching process, before parallel jobs (joblib, SLURM)
    would all try at the same moment."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._create(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._create(config)

    @staticmethod
    def _create(config: DictConfig) -> None:
        # ${hydra:...} interpolations (paths.root_dir) need HydraConfig, which Hydra sets only
        # inside each job; set it here from the sweep's own config.
        if not HydraConfig.initialized():
            HydraConfig.instance().set_config(config)
        for repo in aim_repos_in(config.get("logger")):
            ensure_aim_repo(repo)
