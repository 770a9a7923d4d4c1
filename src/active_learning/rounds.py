"""What a run keeps of its rounds: round folders, the run manifest, rounds.csv and Aim.

``<run>/rounds/round_XX/`` holds everything a resume needs. A round folder is written as
``round_XX.partial/`` and renamed when complete, so a run killed mid-round leaves no
half-written round behind: it resumes at the first round without a folder. Files:
``labelled.npy`` (pool positions the round trained on, in reveal order), ``queried.npy``
(positions picked at the end of the round, added in the next), ``metrics.json``,
``thresholds.json``, ``rng_state.json`` (python, numpy, torch and query-generator states after
the query) and, where the next round starts from this round's weights, ``model.pt`` (a state
dict). Nothing here is unpickled: the states are plain JSON, arrays load without pickle and
weights with ``torch.load(weights_only=True)``.

``<run>/active_run.json`` says what the run is, so that a resume can refuse a different one.
``<run>/rounds.csv`` is rebuilt from the round folders after every round. In Aim, each round
is one step of one Aim run per active-learning run (a resumed run appends to it):
``test/f1_micro_tuned`` is tracked as metric ``f1_micro`` with context ``{subset: test,
thresholds: tuned}`` (``thresholds: 0.5`` for the default threshold), and ``num_labelled`` is
its own metric, so the UI can align any curve by it (x = labelled rows).
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from src.active_learning.settings import ActiveSettings
from src.active_learning.setup import Tracking
from src.errors import TextlabError, excerpt
from src.runs.folder import CONFIG_FILE, atomic_write_text, read_json_file, write_json
from src.tracking.logger import AimLogger
from src.tracking.repo import ensure_aim_repo

log = logging.getLogger(__name__)
ROUND_DIR = re.compile(r"round_(\d+)")
RNG_FILE = "rng_state.json"
RNG_KEYS = ("python", "numpy", "torch", "query")
#: the pickled states of earlier versions: never read (unpickling runs arbitrary code)
PICKLED_RNG_FILE = "rng_state.pkl"
WEIGHTS_FILE = "model.pt"
MANIFEST = "active_run.json"
ROUNDS_CSV = "rounds.csv"
#: settings that must not change on resume (rounds may grow; run-control keys may change)
FIXED = ("strategy", "query_size", "initial_size", "pool_size", "start", "cold_reset")
FIRST_COLUMNS = ("round", "num_labelled", "strategy", "seed")


# -- random-number states as JSON ------------------------------------------------------------------
def capture_rng(query_rng: np.random.Generator) -> dict[str, Any]:
    """The global generators' states and the query generator's, as plain JSON values."""
    version, internal, gauss = random.getstate()
    legacy_state = np.random.get_state(legacy=True)
    assert isinstance(legacy_state, tuple)  # a dict only for a non-MT19937 global generator
    _, key, pos, has_gauss, cached = legacy_state
    return {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "key": key.tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(cached),
        },
        "torch": bytes(torch.get_rng_state().numpy()).hex(),
        "query": query_rng.bit_generator.state,
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _uint32s(value: Any, length: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == length
        and all(_is_int(v) and 0 <= v < 2**32 for v in value)
    )


def _check_rng_state(state: Any) -> list[str]:
    """What is wrong with a parsed rng_state.json (empty: nothing)."""
    if not isinstance(state, dict) or set(state) != set(RNG_KEYS):
        return [f"expected exactly the keys {', '.join(RNG_KEYS)}"]
    problems = []
    python, numpy_state, torch_state, query = (state[k] for k in RNG_KEYS)
    if not (
        isinstance(python, dict)
        and _is_int(python.get("version"))
        and _uint32s(python.get("state"), 625)
        and (python.get("gauss") is None or _is_number(python.get("gauss")))
    ):
        problems.append("python: not a Mersenne Twister state")
    if not (
        isinstance(numpy_state, dict)
        and _uint32s(numpy_state.get("key"), 624)
        and _is_int(numpy_state.get("pos"))
        and numpy_state.get("has_gauss") in (0, 1)
        and _is_number(numpy_state.get("gauss"))
    ):
        problems.append("numpy: not an MT19937 state")
    if not (isinstance(torch_state, str) and re.fullmatch(r"(?:[0-9a-f]{2})+", torch_state)):
        problems.append("torch: not a hex string")
    inner = query.get("state") if isinstance(query, dict) else None
    if not (
        isinstance(query, dict)
        and query.get("bit_generator") == "PCG64"
        and isinstance(inner, dict)
        and set(inner) == {"state", "inc"}
        and all(_is_int(v) and v >= 0 for v in inner.values())
        and _is_int(query.get("has_uint32"))
        and _is_int(query.get("uinteger"))
    ):
        problems.append("query: not a PCG64 state")
    return problems


def _apply_rng_state(state: dict[str, Any]) -> np.random.Generator:
    """Restore the global generators; return the query generator in its saved state."""
    python, numpy_state = state["python"], state["numpy"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    key = np.asarray(numpy_state["key"], dtype=np.uint32)
    np.random.set_state(
        ("MT19937", key, numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"])
    )
    torch.set_rng_state(torch.tensor(list(bytes.fromhex(state["torch"])), dtype=torch.uint8))
    query_rng = np.random.default_rng()
    query_rng.bit_generator.state = state["query"]
    return query_rng


# -- round folders ---------------------------------------------------------------------------------
@dataclass
class RoundCheckpoint:
    """A complete round folder, read back: what was labelled and queried, and its metrics."""

    round: int
    labelled: np.ndarray
    queried: np.ndarray
    metrics: dict[str, Any]
    folder: Path

    @property
    def weights(self) -> Path | None:
        path = self.folder / WEIGHTS_FILE
        return path if path.is_file() else None

    def restore_rng(self) -> np.random.Generator:
        """Restore the RNG states saved after this round's query; returns the query generator.

        Only ``rng_state.json`` is read, and only a state of the expected shape is restored;
        anything else (a pickle from an earlier version, a changed file) is refused.
        """
        path = self.folder / RNG_FILE
        if not path.is_file():
            found = " (it holds rng_state.pkl, which is never unpickled)"
            hint = found if (self.folder / PICKLED_RNG_FILE).exists() else ""
            raise TextlabError(
                f"cannot resume from {self.folder}: no {RNG_FILE}{hint}; start a new run folder"
            )
        try:
            state = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise TextlabError(f"cannot resume from {path}: not JSON ({err})") from None
        problems = _check_rng_state(state)
        if not problems:
            try:
                return _apply_rng_state(state)
            except (TypeError, ValueError, OverflowError, RuntimeError) as err:
                problems = [f"{type(err).__name__}: {err}"]
        raise TextlabError(
            f"cannot resume from {path}: not a random-number state written by this loop "
            f"({'; '.join(problems)}); start a new run folder"
        )

    def load_weights(self) -> dict[str, torch.Tensor] | None:
        """The round's state dict, or None. Loaded with ``weights_only=True``: tensors and
        plain containers only, anything else is refused before it runs."""
        if self.weights is None:
            return None
        try:
            return torch.load(self.weights, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise TextlabError(
                f"cannot resume from {self.weights}: not a plain state dict ({reason}); "
                "start a new run folder"
            ) from None


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
    atomic_write_text(partial / RNG_FILE, json.dumps(rng_state, sort_keys=True) + "\n")
    if weights is not None:
        torch.save(weights, partial / WEIGHTS_FILE)
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
                labelled=np.load(folder / "labelled.npy", allow_pickle=False),
                queried=np.load(folder / "queried.npy", allow_pickle=False),
                metrics=json.loads((folder / "metrics.json").read_text()),
                folder=folder,
            )
        )
    return sorted(found, key=lambda c: c.round)


def drop_old_weights(run_dir: Path, keep_round: int) -> None:
    """keep_weights=last: only the newest round keeps its model.pt."""
    for checkpoint in completed_rounds(run_dir):
        if checkpoint.round != keep_round and checkpoint.weights is not None:
            checkpoint.weights.unlink()


def clear_partial(run_dir: Path) -> None:
    for folder in rounds_dir(run_dir).glob("round_*.partial"):
        shutil.rmtree(folder, ignore_errors=True)


# -- the run manifest ------------------------------------------------------------------------------
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
    manifest = read_json_file(path)
    if manifest is None:
        raise TextlabError(f"cannot resume {run_dir}: {path} is damaged (not a JSON object)")
    return manifest


#: settings a resume may change (dotted prefixes): where files go and what is logged, how far
#: this process goes and how it predicts; everything else must be the run's own
MAY_CHANGE = (
    "paths",
    "hydra",
    "logger",
    "results_file",
    "active.rounds",
    "active.resume",
    "active.run_dir",
    "active.max_rounds_this_process",
    "active.predict_batch_size",
    "active.keep_weights",
    "data.num_workers",
)


def _flat(node: Any, folders: list[tuple[str, str]], prefix: str = "") -> dict[Any, Any]:
    """``{"a.b": value}`` of a nested config, with the ``paths`` folders written as
    ``<paths.x>`` (``trainer.default_root_dir`` is the run folder, ``data.cache_dir`` below the
    cache folder: a resume from a moved checkout or logs folder has the same settings)."""
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            out.update(_flat(value, folders, f"{prefix}{key}."))
        return out
    if isinstance(node, str):
        for folder, token in folders:
            node = node.replace(folder, token)
    return {prefix[:-1]: node}


def changed_settings(saved: dict[Any, Any], current: dict[Any, Any]) -> list[str]:
    """``key=saved in the run, current now`` for every setting a resume may not change."""
    flats = []
    for config in (saved, current):
        paths = config.get("paths")
        if not isinstance(paths, dict):
            paths = {}
        folders = [(str(v), f"<paths.{k}>") for k, v in paths.items() if isinstance(v, str) and v]
        folders.sort(key=lambda pair: -len(pair[0]))  # the longest (most specific) first
        flats.append(_flat(config, folders))
    before, now = flats
    keys = sorted(set(before) | set(now))
    fixed = [k for k in keys if not any(k == p or k.startswith(p + ".") for p in MAY_CHANGE)]
    unset = "(not set)"
    return [
        f"{key}={excerpt(before.get(key, unset), 40)} in the run, "
        f"{excerpt(now.get(key, unset), 40)} now"
        for key in fixed
        if before.get(key, unset) != now.get(key, unset)
    ]


def check_resume_settings(current: dict[str, Any], run_dir: Path) -> bool:
    """A resume goes on with the run's own settings (its ``config.yaml``): any other value is
    refused in one line naming the keys and both values, and the earlier config is never
    rewritten. Returns whether the run has a config.yaml (a run killed before writing it has
    none: then only its manifest is checked). ``current``: this process's resolved config."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return False
    try:
        saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as err:  # noqa: BLE001  (yaml and OmegaConf raise many types)
        raise TextlabError(
            f"cannot resume {run_dir}: {path} cannot be read ({type(err).__name__}); it is "
            "damaged: start a new run folder"
        ) from None
    if not isinstance(saved, dict):
        raise TextlabError(f"cannot resume {run_dir}: {path} is not a config mapping")
    changes = changed_settings(saved, current)
    if changes:
        more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
        raise TextlabError(
            f"cannot resume {run_dir}: this config differs from the run's own: "
            f"{'; '.join(changes[:3])}{more}; resume with the run's settings (only "
            "active.rounds, active.max_rounds_this_process, active.predict_batch_size, "
            "active.keep_weights, paths and loggers may change)"
        )
    return True


def check_same_run(saved: dict[str, Any], current: dict[str, Any], run_dir: Path) -> None:
    """A resume must continue the same experiment: same settings, seed, data and pool."""
    for key in (*FIXED, "seed", "data", "pool_ids"):
        if saved.get(key) != current.get(key):
            shown = "the pool rows" if key == "pool_ids" else f"{saved.get(key)!r}"
            raise TextlabError(
                f"cannot resume {run_dir}: it was run with {key}={shown}, this config differs; "
                "resume with the same overrides (only active.rounds may grow)"
            )


# -- per-round numbers: rounds.csv and Aim ---------------------------------------------------------
def write_rounds_csv(run_dir: Path) -> Path:
    """Rebuild rounds.csv from the round folders (so a resumed run's file is whole)."""
    rows = [checkpoint.metrics for checkpoint in completed_rounds(run_dir)]
    path = Path(run_dir) / ROUNDS_CSV
    table = pd.DataFrame(rows)
    first = [c for c in FIRST_COLUMNS if c in table.columns]
    table[first + [c for c in table.columns if c not in first]].to_csv(path, index=False)
    return path


def aim_name_and_context(key: str) -> tuple[str, dict[str, str]]:
    """``test/f1_micro_tuned`` -> (``f1_micro``, {subset: test, thresholds: tuned}); scores at
    the default threshold and AUC carry only their subset (the training runs' scheme)."""
    subset, _, name = key.partition("/")
    if name.endswith("_tuned"):
        return name[: -len("_tuned")], {"subset": subset, "thresholds": "tuned"}
    return name, {"subset": subset}


class AimRounds:
    """One Aim run per active-learning run, held by the project's ``AimLogger`` (first Aim
    repo of the ``logger`` node; none: no tracking). ``run_hash`` reopens the run of an earlier
    process, so a resumed run appends to it; a new run gets the config and ``params``."""

    def __init__(self, tracking: Tracking, run_hash: str | None, params: dict[str, Any]) -> None:
        self.logger: AimLogger | None = None
        if not tracking.repos:
            return
        ensure_aim_repo(tracking.repos[0])
        self.logger = AimLogger(
            repo=tracking.repos[0],
            experiment=tracking.experiment,
            tags=list(tracking.tags),
            run_hash=run_hash,
            log_system_params=False,
            system_tracking_interval=None,
            capture_terminal_logs=False,
        )
        if run_hash is None:
            self.logger.log_hyperparams({"config": tracking.config, "run": params})

    @property
    def hash(self) -> str | None:
        return None if self.logger is None else self.logger.version

    def track_round(self, metrics: dict[str, Any]) -> None:
        if self.logger is None:
            return
        run = self.logger.experiment
        step = int(metrics["round"])
        run.track(int(metrics["num_labelled"]), name="num_labelled", step=step)
        for key, value in metrics.items():
            if "/" not in key or value is None or not math.isfinite(float(value)):
                continue
            name, context = aim_name_and_context(key)
            run.track(float(value), name=name, step=step, context=context)


# -- where a run starts ----------------------------------------------------------------------------
@dataclass
class Start:
    """Where this process starts: the first round to train, the pool positions labelled so far
    (in reveal order), the query generator, the weights the first round starts from, the run's
    manifest and its Aim record."""

    first_round: int
    labelled: np.ndarray
    rng: np.random.Generator
    weights: dict[str, torch.Tensor] | None
    manifest: dict[str, Any]
    aim: AimRounds
    metrics: dict[str, Any]  # the last complete round's (none yet: empty)


def start(
    settings: ActiveSettings,
    run_dir: Path,
    manifest: dict[str, Any],
    seed: int,
    tracking: Tracking,
    params: dict[str, Any],
) -> Start:
    """A new run (a seeded random initial set; the manifest is written) or the state after the
    last complete round of the run in ``run_dir`` (its manifest must match ``manifest``; the
    round in progress when it stopped is redone). The run's Aim run is opened (a resume
    appends to its own) and its hash kept in the manifest."""
    first_round, weights, metrics = 0, None, {}
    rng = np.random.default_rng(seed)
    labelled = rng.choice(len(manifest["pool_ids"]), size=settings.initial_size, replace=False)
    if settings.resume:
        saved = read_manifest(run_dir)
        check_same_run(saved, manifest, run_dir)
        manifest = saved
        clear_partial(run_dir)
        done = completed_rounds(run_dir)
        if done:  # none: stopped during round 0, which starts again
            last = done[-1]
            first_round, rng = last.round + 1, last.restore_rng()
            labelled = np.concatenate([last.labelled, last.queried])
            weights = last.load_weights() if settings.keeps_weights else None
            metrics = last.metrics
            log.info("resuming %s after round %d (%d labelled)", run_dir, last.round, len(labelled))
    aim = AimRounds(tracking, manifest.get("aim_run_hash"), params)
    if not settings.resume or (aim.hash and manifest.get("aim_run_hash") != aim.hash):
        manifest["aim_run_hash"] = aim.hash or manifest.get("aim_run_hash")
        write_manifest(run_dir, manifest)
    return Start(first_round, labelled, rng, weights, manifest, aim, metrics)
