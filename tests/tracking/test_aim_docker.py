"""The dockerised Aim (aim/) for real: aim/check.sh builds and starts it, logs a tiny training
run through the tracking server, finds the run in the UI's API and screenshots the runs page."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHECK = ROOT / "aim" / "check.sh"
NO_DOCKER_HERE = 77  # check.sh's exit code when no Docker daemon answers and none can start


# about 2-3 minutes the first time on 2 cores (apt installs, debootstrap, pip install aim),
# under 1 once check.sh's image cache is warm
@pytest.mark.slow
def test_a_run_sent_to_the_dockerised_tracking_server_shows_in_the_ui(tmp_path: Path) -> None:
    screenshot = tmp_path / "runs_page.png"  # the committed aim/ screenshot stays as it is
    check = subprocess.Popen(
        ["bash", str(CHECK)],
        cwd=ROOT,
        env={**os.environ, "TEXTLAB_AIM_SCREENSHOT": str(screenshot)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = check.communicate(timeout=20 * 60)
    except subprocess.TimeoutExpired:
        check.send_signal(signal.SIGTERM)  # its trap stops the containers and the daemon
        try:
            output, _ = check.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            check.kill()
            output, _ = check.communicate()
        pytest.fail(f"aim/check.sh ran past 20 minutes:\n{output[-4000:]}")
    if check.returncode == NO_DOCKER_HERE:
        pytest.skip(next(line for line in output.splitlines() if "SKIP:" in line))
    assert check.returncode == 0, output[-4000:]
    assert screenshot.stat().st_size > 0, f"no screenshot at {screenshot}"
