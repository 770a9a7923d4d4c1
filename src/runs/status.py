"""Where a run stands, as ``metrics.json`` says: ``running`` from its start (with the process id
and host), then ``success``, ``failed`` or ``interrupted``. A run killed outright (``kill -9``, a
lost node) cannot say so itself; :func:`run_status` reads a ``running`` folder whose process is
gone as ``interrupted``."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from src.runs.folder import METRICS_FILE, read_json_file, write_json

log = logging.getLogger(__name__)

#: metrics.json statuses besides success / failed
RUNNING, INTERRUPTED = "running", "interrupted"


def running_record(started: float) -> dict[str, Any]:
    """The ``metrics.json`` of a run in progress: who runs it, since when."""
    return {
        "status": RUNNING,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "metrics": {},
    }


def process_alive(pid: Any) -> bool:
    """Whether a process with this id runs on this machine (a zombie does not)."""
    try:
        pid = int(pid)
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError, TypeError):
        return False
    except PermissionError:  # another user's process
        return True
    try:  # Linux: a killed child its parent has not reaped yet is a zombie ("Z")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def run_status(folder: str | Path) -> dict[str, Any] | None:
    """A run folder's ``metrics.json`` as it stands now, or None when it has none (not
    started yet, or killed before its start was recorded). A ``running`` record whose process
    is gone on this host is ``interrupted``; on another host it stays ``running`` (unknown)."""
    record = read_json_file(Path(folder) / METRICS_FILE)
    if not isinstance(record, dict):
        return None
    here = record.get("host") == socket.gethostname()
    if record.get("status") == RUNNING and here and not process_alive(record.get("pid")):
        return {
            **record,
            "status": INTERRUPTED,
            "error": f"process {record.get('pid')} ended without recording a result (killed?)",
        }
    return record


def mark_resumed(earlier: str | Path, resumed_by: str | Path) -> dict[str, Any] | None:
    """Record in an earlier run folder that ``resumed_by`` continued it: a run that never
    recorded its end (killed) becomes ``interrupted``; a finished or failed one keeps its
    status. A folder that cannot be written costs a warning."""
    earlier, resumed_by = Path(earlier), Path(resumed_by)
    if earlier.resolve() == resumed_by.resolve():
        return None
    record = run_status(earlier) or {"metrics": {}}
    if record.get("status") == RUNNING:
        log.warning(
            "%s says its run (pid %s on %s) is still going; resuming from its checkpoint anyway",
            earlier,
            record.get("pid"),
            record.get("host"),
        )
        return None
    if record.get("status") in (None, INTERRUPTED):
        record["status"] = INTERRUPTED
        record.setdefault("error", "killed before it recorded a result")
    record["resumed_by"] = str(resumed_by)
    try:
        write_json(earlier / METRICS_FILE, record)
    except OSError as err:
        log.warning("cannot mark %s as resumed by %s: %s", earlier, resumed_by, err)
        return None
    return record
