"""A disk that fills up during training: the run fails in one line naming the file, and no
truncated checkpoint is left posing as valid (checkpoints go to a temporary file beside their
target, renamed into place when whole: ``AtomicCheckpointIO``)."""

from __future__ import annotations

import errno
import json
import os
import types
from pathlib import Path

import pytest

from src.runs import checkpoints, folder
from src.runs.lifecycle import run_job
from src.runs.loading import read_checkpoint
from src.train import train
from tests.conftest import TINY, run_module
from tests.faults.conftest import assert_one_line

FULL = os.strerror(errno.ENOSPC)


class Disk:
    """``os.fdopen`` for the checkpoint writer on a disk with ``room`` bytes left: a write
    past it stores what fits, then fails with ENOSPC, as a real full disk does."""

    def __init__(self, room: int) -> None:
        self.room = room

    def fdopen(self, fd: int, mode: str = "r", *args, **kwargs):
        return _LimitedFile(os.fdopen(fd, mode, *args, **kwargs), self)


class _LimitedFile:
    def __init__(self, handle, disk: Disk) -> None:
        self.handle, self.disk = handle, disk

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        fits = min(len(data), self.disk.room)
        self.handle.write(data[:fits])
        self.disk.room -= fits
        if fits < len(data):
            raise OSError(errno.ENOSPC, FULL)
        return fits

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


def full_disk(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """Only the checkpoint writer sees the full disk."""
    patched = types.SimpleNamespace(**{**vars(os), "fdopen": Disk(room).fdopen})
    write = folder.atomic_write_bytes

    def checkpoint_writer(path, data, mode=0o644):
        with monkeypatch.context() as scoped:
            scoped.setattr(folder, "os", patched)
            return write(path, data, mode)

    monkeypatch.setattr(checkpoints, "atomic_write_bytes", checkpoint_writer)


def assert_checkpoints_whole(folder: Path) -> list[str]:
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.endswith(".tmp")], names  # no half-written leftovers
    for name in names:
        read_checkpoint(folder / name)  # each one loads: none is truncated
    return names


def test_checkpoint_write_that_fills_the_disk_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "best.ckpt"
    checkpoints.AtomicCheckpointIO().save_checkpoint({"state_dict": {}, "epoch": 0}, target)
    before = target.read_bytes()
    full_disk(monkeypatch, room=100)
    with pytest.raises(OSError) as err:
        checkpoints.AtomicCheckpointIO().save_checkpoint({"state_dict": {}, "epoch": 1}, target)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert target.read_bytes() == before
    assert assert_checkpoints_whole(tmp_path) == ["best.ckpt"]


def test_training_on_a_filling_disk_fails_in_one_line(
    make_cfg,
    tiny_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """Room for best.ckpt of the first epoch, not for last.ckpt after it."""
    size = (tiny_run / "checkpoints" / "best.ckpt").stat().st_size
    full_disk(monkeypatch, room=int(size * 1.5))
    cfg = make_cfg("trainer.max_epochs=2", "analyses=false")
    with pytest.raises(SystemExit) as exit_:
        run_job(train, cfg, cfg.paths.output_dir)
    assert exit_.value.code == 2
    run = Path(cfg.paths.output_dir)
    assert_one_line(capsys.readouterr().err, str(run / "checkpoints" / "last.ckpt"), FULL)
    assert assert_checkpoints_whole(run / "checkpoints") == ["best.ckpt"]
    assert json.loads((run / "metrics.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_training_on_a_full_tmpfs_fails_in_one_line(small_disk: Path, tmp_path: Path) -> None:
    """A real 20 MiB disk, from the command line (Hydra's log file on it too)."""
    run = small_disk / "run"
    done = run_module(
        "src.train",
        *TINY,
        "trainer.max_epochs=2",
        "analyses=false",
        f"hydra.run.dir={run}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert_one_line(done.stderr, "last.ckpt", FULL)
    assert assert_checkpoints_whole(run / "checkpoints") == ["best.ckpt"]


def test_a_disk_full_in_the_analyses_keeps_the_scores_already_recorded(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The run has its test scores in metrics.json when the after-fit analyses start; a full
    disk there fails the run in one line, and metrics.json still holds those scores."""
    from src.evaluation import analyses
    from src.evaluation.thresholds import THRESHOLDS_FILE

    def no_room(run_dir, tuning):
        raise OSError(errno.ENOSPC, FULL, str(Path(run_dir) / THRESHOLDS_FILE))

    monkeypatch.setattr(analyses, "write_thresholds", no_room)
    cfg = make_cfg()
    with pytest.raises(SystemExit) as exit_:
        run_job(train, cfg, cfg.paths.output_dir)
    assert exit_.value.code == 2
    run = Path(cfg.paths.output_dir)
    assert_one_line(capsys.readouterr().err, str(run / "thresholds.json"), FULL)
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "failed" and FULL in record["error"]
    assert 0.0 <= record["metrics"]["test/auc_macro"] <= 1.0
    assert "test/tuned/f1_macro" not in record["metrics"]
