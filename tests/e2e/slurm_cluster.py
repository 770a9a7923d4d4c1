"""A one-node SLURM cluster on this machine, for tests: munged, slurmctld and slurmd started
from a folder of their own (configuration, state, logs, sockets), and stopped again.

Needs Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them) and root (slurmd
starts jobs as their user). ``why_not()`` says why a cluster cannot start here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sacct", "scontrol", "sinfo")

SLURM_CONF = """\
ClusterName=textlab-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
MpiDefault=none
NodeName={host} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def why_not() -> str | None:
    """Why no cluster can start here (None: it can)."""
    missing = [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "slurmd needs root to start jobs"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """``with Cluster(folder) as cluster:``; ``cluster.env`` points the SLURM commands at it."""

    def __init__(self, root: Path, cpus: int = 2, memory_mb: int = 4000) -> None:
        self.root = root
        self.host = socket.gethostname()
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.processes: list[subprocess.Popen] = []
        self.env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for sub in ("state", "spool", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        (self.root / "slurm.conf").write_text(
            SLURM_CONF.format(
                host=self.host,
                root=self.root,
                ctld_port=free_port(),
                slurmd_port=free_port(),
                cpus=self.cpus,
                memory=self.memory_mb,
            )
        )
        self._daemon(
            "munged",
            "-F",
            "--force",
            f"--key-file={key}",
            f"--socket={self.root / 'munge.socket'}",
            f"--pid-file={self.root / 'munge' / 'munged.pid'}",
            f"--log-file={self.root / 'munge' / 'munged.log'}",
            f"--seed-file={self.root / 'munge' / 'munged.seed'}",
        )
        self._wait_for(lambda: (self.root / "munge.socket").exists(), "munged")
        self._daemon("slurmctld", "-D", "-i", "-f", str(self.root / "slurm.conf"))
        self._daemon("slurmd", "-D", "-f", str(self.root / "slurm.conf"))
        self._wait_for(self.node_idle, "slurmd to register with slurmctld")

    def _daemon(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.out").open("w")
        self.processes.append(
            subprocess.Popen(
                [name, *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        )

    def _wait_for(self, ready: object, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead[0].args[0]} exited: {self.logs()}")
            time.sleep(0.5)
        raise RuntimeError(f"timed out waiting for {what}: {self.logs()}")

    def node_idle(self) -> bool:
        state = self.run("sinfo", "-h", "-N", "-o", "%T", check=False)
        return state.returncode == 0 and state.stdout.strip() in ("idle", "mixed")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, check=check, timeout=60
        )

    def logs(self, tail: int = 2000) -> str:
        return " | ".join(
            f"{path.name}: {path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out"))
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = []
