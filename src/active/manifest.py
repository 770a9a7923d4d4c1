"""`<run>/active_run.json`: what a run is, so that a resume can refuse a different one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from src.active.settings import ActiveSettings
from src.pipeline.run_folder import write_json
from src.utils.errors import TextlabError

MANIFEST = "active_run.json"
#: settings that must not change on resume (rounds may grow; run-control keys may change)
FIXED = ("strategy", "query_size", "initial_size", "pool_size", "start", "cold_reset")


def new_manifest(settings: ActiveSettings, seed: int, pool_ids: list[str], data: str) -> dict:
    return {
        **{key: getattr(settings, key) for key in FIXED},
        "seed": seed,
        "data": data,
        "pool_ids": pool_ids,
        "aim_run_hash": None,
    }


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    write_json(Path(run_dir) / MANIFEST, manifest)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise TextlabError(
            f"nothing to resume in {run_dir}: no {MANIFEST}; point active.run_dir= (or "
            "hydra.run.dir=) at the folder of an earlier `python -m src.active` run"
        )
    return json.loads(path.read_text())


def check_same_run(saved: dict[str, Any], current: dict[str, Any], run_dir: Path) -> None:
    """A resume must continue the same experiment: same settings, seed, data and pool."""
    for key in (*FIXED, "seed", "data", "pool_ids"):
        if saved.get(key) != current.get(key):
            shown = "the pool rows" if key == "pool_ids" else f"{saved.get(key)!r}"
            raise TextlabError(
                f"cannot resume {run_dir}: it was run with {key}={shown}, this config differs; "
                "resume with the same overrides (only active.rounds may grow)"
            )
