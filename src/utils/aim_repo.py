"""Create the Aim repository before any run logs to it.

Several processes creating it at once (a parallel sweep) fail with a bare RuntimeError,
so the entry point creates it first, in one process.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig


def ensure_aim_repo(path: str | Path) -> Path | None:
    """Initialise ``<path>/.aim`` unless it exists; remote ``aim://`` repos are left alone."""
    if str(path).startswith("aim://"):
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
