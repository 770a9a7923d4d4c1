"""The launching process around Hydra jobs: it creates the Aim repo before them, indexes every
run after a sweep and prints the command that compares the sweep; ``command_line`` writes the
``python -m`` commands the tools print."""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig

from src.tracking.repo import REMOTE_SCHEME, aim_repos_in, ensure_aim_repo, reindex

#: where ``make aim-ui`` serves the UI
UI = "http://127.0.0.1:43800"


# -- commands and the Hydra callback --------------------------------------------------------
def command_line(module: str, **arguments: Any) -> str:
    """A ``python -m`` command to paste: paths below the current folder relative to it,
    every argument shell-quoted."""
    parts = ["python", "-m", module]
    for key, value in arguments.items():
        if isinstance(value, Path):
            with contextlib.suppress(ValueError):
                value = value.resolve().relative_to(Path.cwd().resolve())
        parts.append(shlex.quote(f"{key}={value}"))
    return " ".join(parts)


def sweep_view_line(folder: Path, repo: str) -> str:
    """Save the sweep's view in a local Aim repo and say where it opens; for a remote one, the
    command that saves it."""
    command = command_line("src.aim_view", sweep=folder, repo=repo)
    if str(repo).startswith(REMOTE_SCHEME) or not (folder / "multirun.yaml").is_file():
        return command
    from src.tracking.views import save_params_view, sweep_view

    try:
        spec = sweep_view(folder)
        view = save_params_view(
            repo, spec.name, spec.query, spec.params, spec.metrics, spec.group_by, spec.description
        )
    except Exception as err:  # noqa: BLE001  (a view is a convenience: never fail the sweep)
        return f"{command}  (saving it failed here: {str(err)[:200]})"
    return f"{UI}{view.path}  (start the UI: make aim-ui; saved again by: {command})"


class LaunchCallback(HydraCallback):
    """What the launching process does around the jobs: create the Aim repo before them
    (parallel jobs, joblib or SLURM, would all try at the same moment); after a sweep, index
    every run not indexed yet (a job's own indexing gives way to a parallel one's), print the
    command that compares the sweep's jobs, and save the sweep's Aim view."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._create(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._create(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._hydra_config(config)
        repos = aim_repos_in(config.get("logger"))
        for repo in repos:
            reindex(repo)
        folder = Path(str(config.hydra.sweep.dir))
        if not any(folder.glob("*/metrics.json")):
            return
        print(f"\ncompare the runs: {command_line('src.compare', sweep=folder)}", flush=True)
        for repo in repos:
            print(f"see them in Aim: {sweep_view_line(folder, repo)}", flush=True)

    @staticmethod
    def _hydra_config(config: DictConfig) -> None:
        # ${hydra:...} interpolations (paths.root_dir) need HydraConfig, which Hydra sets only
        # inside each job; set it here from the sweep's own config.
        if not HydraConfig.initialized():
            HydraConfig.instance().set_config(config)

    def _create(self, config: DictConfig) -> None:
        self._hydra_config(config)
        for repo in aim_repos_in(config.get("logger")):
            ensure_aim_repo(repo)
