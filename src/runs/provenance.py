"""What a run needs to be repeated: the resolved config, the git commit, package versions and
the data files' hashes (``run_info.json``)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.data.token_cache import file_sha256
from src.runs.folder import CONFIG_FILE, atomic_write_text

PACKAGES = (
    "torch",
    "lightning",
    "torchmetrics",
    "transformers",
    "tokenizers",
    "hydra-core",
    "aim",
    "scikit-learn",
    "pandas",
    "numpy",
)


def write_resolved_config(cfg: DictConfig, output_dir: str | Path) -> Path:
    return atomic_write_text(Path(output_dir) / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))


# -- what makes a run reproducible ----------------------------------------------------------
def git_commit(cwd: str | Path | None = None) -> str:
    """The checked-out commit, with ``-dirty`` if the tree has uncommitted changes."""
    try:
        commit = _git(["rev-parse", "HEAD"], cwd).strip()
        dirty = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
        return commit + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _git(args: list[str], cwd: str | Path | None) -> str:
    """The stdout of one git command; raises if git is missing or fails."""
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
    ).stdout


def machine() -> dict[str, Any]:
    """What identifies the machine a run or a measurement ran on: the CPU model and the cores
    this process may use."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {"cpu": cpu, "cores": cores}


def run_machine() -> dict[str, Any]:
    """``machine()`` and the GPU a run could use (None without CUDA; torch is not imported
    here, it is asked only where the run loaded it)."""
    torch = sys.modules.get("torch")
    gpu = None
    if torch is not None and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    return {**machine(), "gpu": gpu}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_info(
    seed: int, data_files: list[Path], root_dir: str | Path | None = None
) -> dict[str, Any]:
    """Everything besides the resolved config needed to repeat a run."""
    return {
        "seed": seed,
        "git_commit": git_commit(root_dir),
        "packages": package_versions(),
        "machine": run_machine(),
        "data_files": {str(path): file_sha256(path) for path in data_files},
    }
