"""Per-round checkpoints: `<run>/rounds/round_XX/` holds everything a resume needs.

A round folder is written as `round_XX.partial/` and renamed when complete, so a run killed
mid-round leaves no half-written round behind: it resumes at the first round without a folder.

Files: `labelled.npy` (pool positions the round trained on, in reveal order), `queried.npy`
(positions picked at the end of the round, added in the next), `metrics.json`, `rng_state.pkl`
(python, numpy, torch and query-generator states after the query) and, where the next round
starts from this round's weights, `model.pt` (a state dict).
"""

from __future__ import annotations

import json
import pickle
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.pipeline.run_folder import write_json

ROUND_DIR = re.compile(r"round_(\d+)")


@dataclass
class RoundCheckpoint:
    round: int
    labelled: np.ndarray
    queried: np.ndarray
    metrics: dict[str, Any]
    folder: Path

    @property
    def weights(self) -> Path | None:
        path = self.folder / "model.pt"
        return path if path.is_file() else None


def capture_rng(query_rng: np.random.Generator) -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "query": query_rng.bit_generator.state,
    }


def restore_rng(state: dict[str, Any]) -> np.random.Generator:
    """Restore the global generators; return the query generator in its saved state."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    query_rng = np.random.default_rng()
    query_rng.bit_generator.state = state["query"]
    return query_rng


def rounds_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "rounds"


def save_round(
    run_dir: Path,
    round_index: int,
    labelled: np.ndarray,
    queried: np.ndarray,
    metrics: dict[str, Any],
    rng_state: dict[str, Any],
    weights: dict[str, torch.Tensor] | None,
    extra_json: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write one round atomically (partial folder, then rename); ``extra_json``: name -> payload."""
    final = rounds_dir(run_dir) / f"round_{round_index:02d}"
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.save(partial / "labelled.npy", np.asarray(labelled, dtype=np.int64))
    np.save(partial / "queried.npy", np.asarray(queried, dtype=np.int64))
    for name, payload in (extra_json or {}).items():
        write_json(partial / name, payload)
    write_json(partial / "metrics.json", metrics)
    with open(partial / "rng_state.pkl", "wb") as handle:
        pickle.dump(rng_state, handle)
    if weights is not None:
        torch.save(weights, partial / "model.pt")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final


def completed_rounds(run_dir: Path) -> list[RoundCheckpoint]:
    """Every complete round folder, in round order (partial folders are ignored)."""
    found = []
    for folder in sorted(rounds_dir(run_dir).glob("round_*")):
        match = ROUND_DIR.fullmatch(folder.name)
        if not match or not (folder / "metrics.json").is_file():
            continue
        found.append(
            RoundCheckpoint(
                round=int(match.group(1)),
                labelled=np.load(folder / "labelled.npy"),
                queried=np.load(folder / "queried.npy"),
                metrics=json.loads((folder / "metrics.json").read_text()),
                folder=folder,
            )
        )
    return sorted(found, key=lambda c: c.round)


def load_rng(checkpoint: RoundCheckpoint) -> dict[str, Any]:
    with open(checkpoint.folder / "rng_state.pkl", "rb") as handle:
        return pickle.load(handle)  # noqa: S301  (a file this loop wrote itself)


def drop_old_weights(run_dir: Path, keep_round: int) -> None:
    """keep_weights=last: only the newest round keeps its model.pt."""
    for checkpoint in completed_rounds(run_dir):
        if checkpoint.round != keep_round and checkpoint.weights is not None:
            checkpoint.weights.unlink()


def clear_partial(run_dir: Path) -> None:
    for folder in rounds_dir(run_dir).glob("round_*.partial"):
        shutil.rmtree(folder, ignore_errors=True)
