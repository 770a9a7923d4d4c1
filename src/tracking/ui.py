"""The Aim UI on loopback. ``aim up`` starts a uvicorn child that survives a plain kill of its
parent, so the UI runs in its own session (process group) and stopping it ends the whole group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from src.errors import TextlabError
from src.tracking.repo import reindex

AIM = str(Path(sys.executable).parent / "aim")


def start_aim_ui(repo: str | Path, host: str = "127.0.0.1", port: int = 43800) -> subprocess.Popen:
    if not (Path(repo) / ".aim").is_dir():
        raise TextlabError(f"no Aim repo at {repo}/.aim; train something first (logger=aim)")
    reindex(repo)
    return subprocess.Popen(
        [AIM, "up", "--repo", str(repo), "--host", host, "--port", str(port), "--yes"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TextlabError(f"the Aim UI did not answer at {url} within {timeout:.0f} s")


def live_group_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` that are not zombies (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def stop_aim_ui(process: subprocess.Popen, grace: float = 10.0) -> None:
    """End the UI and its uvicorn child: signal the whole process group, then make sure no
    live member is left (zombies re-parented to init do not count)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        deadline = time.monotonic() + grace
        while live_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not live_group_members(process.pid):
            return
