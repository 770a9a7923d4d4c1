"""What makes a run reproducible: seed, git commit, package versions, data file hashes."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

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


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file, read in chunks so large data files don't fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def git_commit(cwd: str | Path | None = None) -> str:
    """The checked-out commit, with ``-dirty`` if the tree has uncommitted changes."""
    try:
        run = dict(cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


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
        "data_files": {str(path): file_sha256(path) for path in data_files},
    }
