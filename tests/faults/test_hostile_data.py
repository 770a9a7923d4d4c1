"""Data files built to exhaust memory or flood messages: a gz bomb, one 200 MB field, a file of
NUL bytes, a 5 MB id. Each stops in a second or two, in one short line that says what to do,
and nothing the run writes quotes more than an excerpt of the data. Memory is measured in a
fresh interpreter, so a test never needs more than a few hundred MB."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from src.data.readers.jigsaw import JIGSAW_LABELS, read_labelled_csv
from src.errors import TextlabError
from tests.conftest import ROOT, TINY, run_module
from tests.faults.conftest import assert_one_line

HEADER = "id,comment_text," + ",".join(JIGSAW_LABELS)
LABELS = ",0,0,0,0,0,0"
#: what a user error may cost in stderr, metrics.json or traceback.txt
SHORT = 5_000


def gz_bomb(path: Path, member_mib: int = 64, members: int = 32) -> Path:
    """A multi-member gzip file of short CSV rows: about ``members * 130`` KB on disk that
    expand to ``members * member_mib`` MiB (2 GiB by default), built in a second."""
    row = f"x,a{LABELS}\n".encode()
    member = gzip.compress(row * ((member_mib << 20) // len(row)), compresslevel=9)
    path.write_bytes(gzip.compress(f"{HEADER}\n".encode()) + member * members)
    return path


def read_in_fresh_interpreter(path: Path) -> tuple[str, float, float]:
    """(the TextlabError message, seconds, MB the peak memory grew by) of reading ``path`` as a
    Jigsaw train file in a new Python process."""
    code = (
        "import resource, sys, time\n"
        "from src.data.readers.jigsaw import JIGSAW_LABELS, read_labelled_csv\n"
        "from src.errors import TextlabError\n"
        "start = time.time()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    read_labelled_csv({str(path)!r}, 'comment_text', JIGSAW_LABELS, 'id')\n"
        "    message = 'no error'\n"
        "except TextlabError as err:\n"
        "    message = str(err)\n"
        "peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024\n"
        "print(f'{time.time() - start:.2f} {peak:.0f}')\n"
        "print(message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first, message = done.stdout.split("\n", 1)
    seconds, peak = map(float, first.split())
    return message.strip(), seconds, peak


def test_a_gz_bomb_stops_at_the_size_cap_in_bounded_memory(tmp_path: Path) -> None:
    bomb = gz_bomb(tmp_path / "train.csv.gz")
    assert bomb.stat().st_size < 6 << 20
    message, seconds, peak_mb = read_in_fresh_interpreter(bomb)
    assert "expands to more than 1,024 MiB" in message, message
    assert "TEXTLAB_MAX_DATA_MB" in message
    assert seconds < 30 and peak_mb < 200, (seconds, peak_mb)


def test_one_200_mb_field_stops_at_the_line_bound(tmp_path: Path) -> None:
    path = tmp_path / "train.csv.gz"
    field = b"a" * (200 << 20)
    path.write_bytes(gzip.compress(f"{HEADER}\nx,".encode() + field + f"{LABELS}\n".encode()))
    assert path.stat().st_size < 1 << 20  # about 200 KB
    del field
    message, seconds, peak_mb = read_in_fresh_interpreter(path)
    assert "is longer than 1 MiB" in message, message
    assert seconds < 10 and peak_mb < 200, (seconds, peak_mb)


def test_nul_bytes_are_refused_at_once_in_a_short_line(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(HEADER.encode() + b"\nx," + b"\0" * (50 << 20) + f"{LABELS}\n".encode())
    started = time.time()
    with pytest.raises(TextlabError) as caught:
        read_labelled_csv(path, "comment_text", JIGSAW_LABELS, "id")
    assert time.time() - started < 5
    message = str(caught.value)
    assert (
        f"holds a NUL byte (at byte {len(HEADER) + 3})" in message and "save it as UTF-8" in message
    )
    assert len(message) < 300


def test_a_quoted_text_of_many_lines_is_cut_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "train.csv"
    long_text = "word word word\n" * 200_000  # 3 MB, every line short
    path.write_text(f'{HEADER}\na,"{long_text}"{LABELS}\nb,short{LABELS}\n')
    with caplog.at_level(logging.WARNING, logger="src.data.readers.csv_rows"):
        frame = read_labelled_csv(path, "comment_text", JIGSAW_LABELS, "id")
    assert frame["comment_text"].str.len().tolist() == [100_000, 5]
    warning = next(r.getMessage() for r in caplog.records if "were cut" in r.getMessage())
    assert "1 cell(s) of column 'comment_text'" in warning and "data row 1" in warning


def test_a_long_id_is_quoted_as_an_excerpt(tmp_path: Path) -> None:
    big = "i" * 900_000  # (a longer line is refused as such)
    path = tmp_path / "train.csv"
    path.write_text(f"{HEADER}\n{big},one{LABELS}\n{big},two{LABELS}\n")
    with pytest.raises(TextlabError) as caught:
        read_labelled_csv(path, "comment_text", JIGSAW_LABELS, "id")
    message = str(caught.value)
    assert "duplicate id" in message and "(100,000 characters)" in message
    assert len(message) < 400


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """The shipped Jigsaw sample files, to put a hostile train file beside."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("test.csv.gz", "test_labels.csv.gz"):
        shutil.copy(ROOT / "data" / "jigsaw" / name, folder / name)
    return folder


@pytest.mark.slow  # a fresh interpreter per run: ~15 s of imports
@pytest.mark.parametrize("case", ["duplicate 5 MB id", "NUL bytes", "200 MB field"])
def test_a_run_on_hostile_data_records_only_an_excerpt(
    sample_dir: Path, tmp_path: Path, case: str
) -> None:
    train = sample_dir / "train.csv.gz"
    if case == "duplicate 5 MB id":
        big = "i" * (5 << 20)
        rows = f"{HEADER}\n{big},one{LABELS}\n{big},two{LABELS}\n".encode()
    elif case == "NUL bytes":
        rows = f"{HEADER}\nx,".encode() + b"\0" * (50 << 20) + f"{LABELS}\n".encode()
    else:
        rows = f"{HEADER}\nx,".encode() + b"a" * (200 << 20) + f"{LABELS}\n".encode()
    train.write_bytes(gzip.compress(rows, compresslevel=1))
    run, logs = tmp_path / "logs" / "run", tmp_path / "logs"
    started = time.time()
    result = run_module(
        "src.train",
        *TINY,
        f"data.data_dir={sample_dir}",
        f"hydra.run.dir={run}",
        f"paths.log_dir={logs}",
    )
    assert time.time() - started < 90
    assert result.returncode == 2
    line = assert_one_line(result.stderr, str(train))
    assert len(result.stderr) < SHORT and len(line) < 600, line[:1000]
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "failed" and len(record["error"]) < 600
    assert (run / "metrics.json").stat().st_size < SHORT
    assert (run / "traceback.txt").stat().st_size < 4 * SHORT
    results = logs / "train" / "results.csv"
    assert results.stat().st_size < SHORT


def test_train_ids_shared_with_the_test_file_are_warned_about(
    make_cfg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from src.config import build_datamodule

    folder = tmp_path / "shared_ids"
    folder.mkdir()
    for name in ("test.csv.gz", "test_labels.csv.gz"):
        shutil.copy(ROOT / "data" / "jigsaw" / name, folder / name)
    labels = pd.read_csv(folder / "test_labels.csv.gz", dtype=str)
    test_ids = labels[labels["toxic"] != "-1"]["id"].tolist()[:3]  # rows that are scored
    rows = [f"{i},a test text copied into train{LABELS}" for i in test_ids]
    rows += [f"own{i},a training text{',1' * (i % 2)}{',0' * (6 - i % 2)}" for i in range(40)]
    (folder / "train.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    cfg = make_cfg(f"data.data_dir={folder}", "data.max_test_rows=null")
    datamodule = build_datamodule(cfg.data)
    with caplog.at_level(logging.WARNING, logger="src.data.sequence"):
        datamodule.prepare_data()
    warning = next(r.getMessage() for r in caplog.records if "also in" in r.getMessage())
    assert warning.startswith("3 id(s) of the test file test.csv are also in train.csv (e.g.")
    assert all(i in warning for i in test_ids)
