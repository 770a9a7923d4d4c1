"""The Aim repository: created once before parallel jobs (several processes creating it at once
fail with a bare RuntimeError), and indexed after runs close so that ``aim.Repo(...).iter_runs()``
and the UI see them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger(__name__)

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


def is_aim_node(node: Any) -> bool:
    """Whether a logger config node builds an AimLogger."""
    return isinstance(node, DictConfig) and str(node.get("_target_", "")).endswith("AimLogger")


def aim_repos_in(logger_cfg: DictConfig | None) -> list[str]:
    """The repo paths of the AimLogger entries of a logger config group."""
    if not logger_cfg:
        return []
    return [str(node.repo) for node in logger_cfg.values() if is_aim_node(node)]


def reindex(repo: str | Path, run_hashes: Iterable[str] | None = None) -> list[str]:
    """Index runs so that ``Repo.iter_runs`` and the UI see them: the given ones, or every run
    whose index entry is missing or stale (the check the UI's own indexer makes).

    Incremental and in-process: about 0.1-0.3 s a run, the staleness check a few ms per
    hundred runs (``aim storage reindex`` rebuilds the whole index: 17 s for 100 runs). An
    index busy in another process (a UI indexing, a parallel job) is left to it; a remote
    repo is indexed by its server. Returns the hashes indexed; never raises.
    """
    if str(repo).startswith(REMOTE_SCHEME):
        return []
    try:
        from aim.sdk.index_manager import RepoIndexManager
        from aim.sdk.repo import Repo

        store = Repo.from_path(str(repo))
        manager = RepoIndexManager(store)  # not the pooled one: no watcher threads are started
        if run_hashes is None:
            index = store.request_tree("meta", read_only=True)
            run_hashes = [
                run for run in store.list_all_runs() if manager._is_run_index_outdated(run, index)
            ]
        indexed = []
        for run_hash in run_hashes:
            manager.index(run_hash)
            indexed.append(run_hash)
        return indexed
    except Exception as err:  # an index that cannot be written must not fail the run
        log.warning(
            "Aim runs in %s not indexed now (%s: %s); the Aim UI indexes them when it starts",
            repo,
            type(err).__name__,
            err,
        )
        return []
