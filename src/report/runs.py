"""Read the jobs of a multirun folder into one table: overrides, status, final metrics (and
the test F1 at tuned thresholds, where a run tuned them).

Every job of the sweep is listed, also those that did not finish: a job killed outright (its
``metrics.json`` still says ``running`` but its process is gone) is ``interrupted``, a job
folder without ``metrics.json`` is ``unfinished``, and a job the sweep planned but never
started (no folder: the sweep was stopped, or its SLURM job never ran) is ``not started``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml
from omegaconf import OmegaConf

from src.errors import TextlabError
from src.evaluation.analyses import TUNED_RUN_METRICS
from src.runs.folder import METRICS_FILE, RUN_INFO_FILE, STATISTICS_FILE, read_json_file
from src.runs.status import run_status

#: ``model=`` options whose pooling is not their name without ``_pooler``
MODEL_POOLING = {"avg_pooler": "mean"}
NOT_A_CELL = ("seed", "model", "model.pooling")
NOT_STARTED = "not started"
NO_POOLING = "none"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def _as_dict(items: list[str] | None) -> dict[str, str]:
    return dict(item.lstrip("+~").split("=", 1) for item in items or [] if "=" in item)


def _overrides(job: Path) -> dict[str, str]:
    path = job / ".hydra" / "overrides.yaml"
    return _as_dict(yaml.safe_load(path.read_text()) if path.is_file() else [])


def _pooling(job: Path, overrides: dict[str, str]) -> str:
    """The job's pooling: its resolved config says it (``none`` for a model without one, a token
    tagger); a job that never wrote one is read from its overrides (``model=max_pooler`` ->
    ``max``)."""
    config = job / "config.yaml"
    if config.is_file():
        model = yaml.safe_load(config.read_text()).get("model") or {}
        return str(model["pooling"]) if "pooling" in model else NO_POOLING
    if "model.pooling" in overrides:
        return overrides["model.pooling"]
    if "model" in overrides:
        name = overrides["model"]
        return MODEL_POOLING.get(name, name.removesuffix("_pooler"))
    return "cls"


def planned_jobs(folder: Path) -> list[list[str]] | None:
    """The overrides of every job a basic-sweeper multirun planned, in job-number order (from
    its ``multirun.yaml``); None when that cannot be known (another sweeper, no file)."""
    try:
        cfg = OmegaConf.load(folder / "multirun.yaml")
        hydra_cfg = cfg.hydra
        if hydra_cfg.sweeper._target_ != BASIC_SWEEPER:
            return None  # e.g. Optuna: its jobs are chosen as the sweep runs
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        params = [f"{k}={v}" for k, v in (hydra_cfg.sweeper.get("params") or {}).items()]
        params += list(hydra_cfg.overrides.task)
        overrides = OverridesParser.create().parse_overrides(params)
        batches = BasicSweeper.split_arguments(overrides, None)
    except Exception:  # noqa: BLE001  (a missing, damaged or foreign multirun.yaml)
        return None
    return [list(job) for batch in batches for job in batch]


def _tuned_test_scores(job: Path) -> dict[str, float]:
    """Test F1 at the per-label thresholds tuned on validation, ``test/tuned/f1_macro`` and
    ``test/tuned/f1_micro``, from ``statistics.json``: for runs recorded before metrics.json
    carried them (its own values win)."""
    statistics = read_json_file(job / STATISTICS_FILE)
    if not isinstance(statistics, dict):
        return {}
    tuned = ((statistics.get("evaluation") or {}).get("test") or {}).get("tuned") or {}
    return {
        f"test/tuned/{key}": float(tuned[key])
        for key in TUNED_RUN_METRICS
        if isinstance(tuned.get(key), (int, float))
    }


def _finished(job: Path) -> str:
    """When the job last wrote its ``metrics.json`` (UTC, ISO), to tell a re-run from the run
    it repeats; empty when it has none."""
    path = job / METRICS_FILE
    if not path.is_file():
        return ""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def _row(
    job: str, overrides: dict[str, str], pooling: str, summary: dict, about: dict | None = None
) -> dict:
    return {
        "job": job,
        "cell": cell_name({k: v for k, v in overrides.items() if k not in NOT_A_CELL}),
        "pooling": pooling,
        "seed": overrides.get("seed", ""),
        "status": summary.get("status", "success" if summary.get("metrics") else "unfinished"),
        "error": summary.get("error", ""),
        **(about or {}),
        **{k: v for k, v in (summary.get("metrics") or {}).items() if v is not None},
    }


def _provenance(folder: Path, job: Path, overrides: dict[str, str], summary: dict) -> dict:
    """What makes a row traceable without its folder: the run's id (``<sweep>/<job>``), all
    its overrides, the commit and machine it ran on (``run_info.json``) and its wall time."""
    info = read_json_file(job / RUN_INFO_FILE) or {}
    machine = info.get("machine") or {}
    where = f"{machine.get('cpu', '')}, {machine.get('cores', '')} cores" if machine else ""
    if machine.get("gpu"):
        where += f", {machine['gpu']}"
    return {
        "seed": overrides.get("seed") or str(info.get("seed", "")),  # the config's, if not swept
        "run_id": f"{folder.name}/{job.name}"
        if job != folder
        else f"{folder.parent.name}/{job.name}",
        "overrides": " ".join(f"{k}={v}" for k, v in overrides.items()),
        "git_commit": info.get("git_commit", ""),
        "machine": where,
        "wall_time_s": summary.get("wall_time_s", ""),
    }


def load_runs(folder: str | Path) -> pd.DataFrame:
    """One row per job (``<sweep>/<n>/``; or the one run of a single run's folder): cell,
    pooling, seed, status, error, ``finished``
    (when its metrics.json was written), ``run_dir`` (its folder; empty if never started),
    its provenance (run id, overrides, git commit, machine, wall time) and metrics.

    ``cell`` is every override except seed and pooling, so seeds of one configuration group
    together and the two poolings of a cell pair up by seed.
    """
    folder = Path(folder)
    if (folder / ".hydra" / "overrides.yaml").is_file():  # one run's own folder
        jobs = [folder]
    else:
        jobs = sorted(p.parent.parent for p in folder.glob("*/.hydra/overrides.yaml"))
    planned = planned_jobs(folder) or []
    if not jobs and not planned:
        raise TextlabError(
            f"no jobs in {folder}: pass a multirun folder (logs/<task>/multiruns/<time>) "
            "whose job folders hold .hydra/overrides.yaml"
        )
    rows = []
    for job in jobs:
        overrides = _overrides(job)
        summary = run_status(job) or {}
        about = _provenance(folder, job, overrides, summary)
        row = _row(job.name, overrides, _pooling(job, overrides), summary, about)
        row |= {"finished": _finished(job), "run_dir": str(job)}
        rows.append({**row, **_tuned_test_scores(job)} if row["status"] == "success" else row)
    started = {job.name for job in jobs}
    for number, job_overrides in enumerate(planned):
        if str(number) in started:
            continue
        overrides = _as_dict(job_overrides)
        never = {"status": NOT_STARTED, "error": f"no job folder {folder / str(number)}"}
        row = _row(str(number), overrides, _pooling(folder, overrides), never)
        rows.append(row | {"finished": "", "run_dir": ""})
    return pd.DataFrame(rows)


def cell_name(overrides: dict[str, str]) -> str:
    """The overrides that make a cell, sorted: ``"a=1 b=x"``; none: ``default``."""
    return " ".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "default"


def cell_overrides(cell: str) -> dict[str, str]:
    """``"a=1 b=x"`` -> ``{"a": "1", "b": "x"}``; the cell ``default`` holds none."""
    if cell == "default":
        return {}
    return dict(part.split("=", 1) for part in str(cell).split() if "=" in part)


def compared_by(runs: pd.DataFrame, by: str) -> pd.DataFrame:
    """The runs with the swept override ``by`` (``data.bucketing.enabled``) as the compared
    arm instead of the pooling: each row's ``pooling`` column becomes ``<by>=<its value>`` and
    its cell keeps the other overrides (and the pooling, where the runs have several), so the
    arms of one configuration pair up by seed. ``by=pooling``: the runs as they are."""
    if by == "pooling":
        return runs
    several_poolings = runs["pooling"].nunique() > 1
    arms, cells = [], []
    for cell, pooling in zip(runs["cell"], runs["pooling"], strict=True):
        overrides = cell_overrides(cell)
        if by not in overrides:
            swept = sorted({k for c in runs["cell"] for k in cell_overrides(c)})
            raise TextlabError(
                f"by={by}: the run of cell `{cell}` does not set it; pass an override the "
                f"runs vary ({', '.join(swept) or 'none'}), or by=pooling"
            )
        arms.append(f"{by}={overrides.pop(by)}")
        if several_poolings:
            overrides["model.pooling"] = str(pooling)
        cells.append(cell_name(overrides))
    return runs.assign(pooling=arms, cell=cells)


def own_settings(runs: pd.DataFrame, keys: Sequence[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Arms that each run at their own value of ``keys`` (each pooling at its own learning
    rate): those overrides leave the cells, so the arms pair up by seed, and come back as
    ``arm -> "key=value ..."``. An arm with several values of one of them is an error."""
    if not keys:
        return runs, {}
    own: dict[str, dict[str, set[str]]] = {}
    cells = []
    for cell, arm in zip(runs["cell"], runs["pooling"], strict=True):
        overrides = cell_overrides(cell)
        for key in keys:
            if key in overrides:
                own.setdefault(str(arm), {}).setdefault(key, set()).add(overrides.pop(key))
        cells.append(cell_name(overrides))
    several = {
        arm: {k: sorted(v) for k, v in values.items() if len(v) > 1}
        for arm, values in own.items()
        if any(len(v) > 1 for v in values.values())
    }
    if several:
        raise TextlabError(
            f"own={list(keys)}: an arm's own setting must be one value, but {several}; "
            "compare one value per arm (its chosen one)"
        )
    settings = {
        arm: " ".join(f"{k}={next(iter(v))}" for k, v in sorted(values.items()))
        for arm, values in own.items()
    }
    return runs.assign(cell=cells), settings
