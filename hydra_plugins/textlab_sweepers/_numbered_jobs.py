"""Launching jobs under numbers of our choosing (a sweep's folders are its job numbers)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


def launch_numbered(
    launcher: Launcher, jobs: Sequence[tuple[int, Sequence[str]]]
) -> list[JobReturn]:
    """Launch ``(number, overrides)`` jobs, returned in the order given (sorted by number).

    Hydra's launchers number a batch from its first job on, so a batch with gaps (the jobs a
    resumed sweep skips) goes out as one launch per run of consecutive numbers.
    """
    returns: list[JobReturn] = []
    group: list[tuple[int, Sequence[str]]] = []
    for number, overrides in sorted(jobs, key=lambda job: job[0]):
        if group and number != group[-1][0] + 1:
            returns += launcher.launch([o for _, o in group], initial_job_idx=group[0][0])
            group = []
        group.append((number, overrides))
    if group:
        returns += launcher.launch([o for _, o in group], initial_job_idx=group[0][0])
    return returns
