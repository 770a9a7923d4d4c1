"""Hydra callbacks: work that must happen once per sweep, before any job starts."""

from __future__ import annotations

from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from src.utils.aim_repo import aim_repos_in, ensure_aim_repo


class CreateAimRepo(Callback):
    """Create the Aim repo in the launching process: parallel jobs (joblib, SLURM) creating it
    at the same moment fail with a bare RuntimeError."""

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
