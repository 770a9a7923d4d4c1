"""What the fault tests share: a real tiny run folder, one-line error checks, and folders that
are read-only or full (a small tmpfs when this process may mount one, as root in a container;
else read-only by permissions, or skipped)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import compose_config

#: a marker file a hostile run folder or checkpoint tries to create
MARKER = "pwned"


def assert_one_line(stderr: str, *fragments: str) -> str:
    """``stderr`` is one ``error: ...`` line (log lines aside) holding every fragment, and no
    traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, token_cache_dir: Path) -> Path:
    """One real, finished tiny training run (1 epoch, CSV logger, no analyses): copy it before
    changing anything in it."""
    from src.train import train
    from tests.conftest import TINY

    root = tmp_path_factory.mktemp("tiny_run")
    overrides = [*TINY, "trainer.max_epochs=1", "analyses=false"]
    train(compose_config("train", overrides, root / "run", token_cache_dir))
    return root / "run"


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny run, free to edit."""
    return Path(shutil.copytree(tiny_run, tmp_path / "copied_run", symlinks=True))


def can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount") is not None


@contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (skips the test where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty folder nobody may write: a read-only tmpfs as root (root ignores permission
    bits), else a folder without write permission."""
    folder = tmp_path / "read_only"
    if can_mount():
        with tmpfs(folder, "1m", read_only=True):
            yield folder
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root without mount: no read-only folder to test with")
    folder.mkdir()
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 20 MiB tmpfs: room for one tiny-model checkpoint (12 MB), not for two."""
    if not can_mount():
        pytest.skip("a full disk needs a tmpfs (root); the patched-writer test covers the rest")
    with tmpfs(tmp_path / "disk", "20m") as folder:
        yield folder
