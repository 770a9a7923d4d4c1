"""Browser test: a small sweep's runs are listed in the Aim UI (headless Debian Chromium)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from src.tracking.ui import start_aim_ui, stop_aim_ui, wait_until_up
from tests.conftest import ROOT
from tests.e2e.test_sweeps import multirun
from tests.tracking.test_aim_ui import free_port

SCREENSHOT = ROOT / "logs" / "aim_ui_runs.png"


def headless_chromium(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


@pytest.mark.slow
@pytest.mark.skipif(
    not shutil.which("chromedriver"), reason="needs Debian chromium-driver (.ci/run installs it)"
)
def test_sweep_runs_are_listed_in_the_aim_ui(tmp_path: Path) -> None:
    result = multirun(tmp_path, "logger=aim", "seed=1,2")
    assert result.returncode == 0, result.stderr[-2000:]
    hashes = [
        json.loads(p.read_text())["aim_run_hash"]
        for p in (tmp_path / "sweep").glob("*/metrics.json")
    ]
    assert len(hashes) == 2
    port = free_port()
    ui = start_aim_ui(tmp_path / "aim", port=port)
    driver = None
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", timeout=180)
        driver = headless_chromium(tmp_path)
        driver.get(f"http://127.0.0.1:{port}/runs")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(h in driver.page_source for h in hashes):
            time.sleep(1)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        missing = [h for h in hashes if h not in driver.page_source]
        assert not missing, f"runs not listed in the Aim UI: {missing} (screenshot {SCREENSHOT})"
    finally:
        if driver is not None:
            driver.quit()
        stop_aim_ui(ui)
