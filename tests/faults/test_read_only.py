"""Folders a run cannot write: a read-only or full logs folder stops the run in one line
before Hydra creates the run folder in it; a read-only token cache costs a warning, not the
run."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from src.runs.lifecycle import folder_problem
from src.train import train
from tests.conftest import TINY, run_module
from tests.faults.conftest import assert_one_line

#: what a read-only folder says: a read-only mount (root) or a missing permission
READ_ONLY = (os.strerror(errno.EROFS), os.strerror(errno.EACCES))


def test_a_read_only_folder_is_named_with_what_to_do(read_only_dir: Path) -> None:
    problem = folder_problem(read_only_dir / "train" / "runs" / "x")
    assert problem and str(read_only_dir) in problem and "paths.log_dir" in problem
    assert any(reason in problem for reason in READ_ONLY)


@pytest.mark.slow
def test_training_into_a_read_only_logs_folder_is_one_line(
    read_only_dir: Path, tmp_path: Path
) -> None:
    done = run_module(
        "src.train", *TINY, f"paths.log_dir={read_only_dir}", f"paths.cache_dir={tmp_path}"
    )
    assert done.returncode == 2, done.stderr[-3000:]
    line = assert_one_line(done.stderr, str(read_only_dir), "paths.log_dir")
    assert any(reason in line for reason in READ_ONLY)


@pytest.mark.slow
def test_training_into_a_full_logs_folder_is_one_line(small_disk: Path, tmp_path: Path) -> None:
    filler = small_disk / "filler"
    with filler.open("wb") as handle:  # fill the disk to the last byte
        try:
            while True:
                handle.write(b"\0" * (1 << 16))
                handle.flush()
        except OSError:
            pass
    done = run_module(
        "src.train", *TINY, f"paths.log_dir={small_disk}", f"paths.cache_dir={tmp_path}"
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert_one_line(done.stderr, str(small_disk), os.strerror(errno.ENOSPC), "free some space")


def test_a_read_only_token_cache_warns_and_the_run_goes_on(
    make_cfg, read_only_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_cfg("debug=fdr", f"data.cache_dir={read_only_dir / 'tokens'}")
    with caplog.at_level(logging.WARNING, logger="src.data.token_cache"):
        summary = train(cfg)
    assert summary["status"] == "success"
    warnings = [r.getMessage() for r in caplog.records if "token cache" in r.getMessage()]
    assert warnings and "going on without it" in warnings[0]
    assert not list(read_only_dir.iterdir())
