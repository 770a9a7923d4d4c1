"""Collapse jobs that ran the same configuration and seed twice (a sweep re-run, or a second
sweep that repeated seeds of the first) into one, so that every section of a comparison counts
the same runs and no seed is counted as two replicates.

The job kept is the latest one that finished (``success``), else the latest one; "latest" is
the time its ``metrics.json`` was last written where known, else its place in the table (later
sweeps come later).
"""

from __future__ import annotations

import pandas as pd

KEY = ["cell", "pooling", "seed"]


def collapse_duplicates(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(runs with one job per (cell, pooling, seed), one warning line per collapsed group)."""
    if runs.empty:
        return runs, []
    ranked = runs.copy().assign(  # a copy: a wide table read from CSV is fragmented
        _order=range(len(runs)),
        _finished=(runs["status"] == "success").astype(int),
        _time=runs["finished"].fillna("") if "finished" in runs else "",
    )
    ranked = ranked.sort_values(["_finished", "_time", "_order"], kind="stable")
    keep = ranked.drop_duplicates(KEY, keep="last")
    warnings = []
    for key, group in ranked[ranked.duplicated(KEY, keep=False)].groupby(KEY, sort=True):
        kept = keep.set_index(KEY).loc[key, "job"]
        jobs = ", ".join(
            f"{job} ({status})" for job, status in zip(group["job"], group["status"], strict=True)
        )
        cell, pooling, seed = key
        warnings.append(
            f"`{cell}` {pooling} seed {seed} ran {len(group)} times: {jobs}; kept {kept}"
        )
    kept = keep.sort_values("_order").drop(columns=["_order", "_finished", "_time"])
    return kept.reset_index(drop=True), warnings
