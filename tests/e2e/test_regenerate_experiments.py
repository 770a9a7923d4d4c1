"""`make experiments`: every committed comparison in experiments/ is what its committed rows give
(rebuilt into a temporary folder, compared with the committed markdown and LaTeX)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_committed_tables_are_what_the_committed_rows_give(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "PY": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "experiments" / "regenerate.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    built = sorted(tmp_path.glob("experiments/**/comparison.md"))
    assert len(built) >= 8
    for path in built:
        committed = ROOT / path.relative_to(tmp_path)
        for name in ("comparison.md", "comparison.tex"):
            # the source line names where the rows were read from
            fresh = (path.parent / name).read_text().replace(str(tmp_path) + "/", "")
            assert fresh == (committed.parent / name).read_text(), committed.parent / name
    baselines = "experiments/baselines/README.md"
    assert (tmp_path / baselines).read_text() == (ROOT / baselines).read_text()
