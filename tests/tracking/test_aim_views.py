"""Saved Aim views: the Params explorer state, the bookmark in the repo's UI database, and (slow)
the pooling view opened in headless Chromium, runs coloured by pooling."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from src.errors import TextlabError
from src.tracking.repo import ensure_aim_repo
from src.tracking.views import (
    aim64encode,
    grouping_field,
    metric_key,
    params_view_state,
    save_params_view,
)
from tests.conftest import ROOT, run_module

TEST_AUC = {"name": "auc_macro", "context": {"subset": "test", "checkpoint": "best"}}
TEST_F1 = {"name": "f1_macro", "context": {"subset": "test", "checkpoint": "best"}}
POOLING = "run.hparams.config.model.pooling"
SCREENSHOT = ROOT / "logs" / "aim_sweep_view.png"


# -- the state ------------------------------------------------------------------------------
def test_metric_options_are_the_ones_the_select_form_makes() -> None:
    state = params_view_state(
        'run.experiment == "pooling_jigsaw"',
        ["hparams.config.model.pooling"],
        [TEST_AUC, ("f1_macro", {"thresholds": "tuned", "subset": "test"})],
        [POOLING],
    )
    param, auc, f1 = state["select"]["options"]
    assert param == {
        "label": "hparams.config.model.pooling",
        "key": "hparams.config.model.pooling",
        "group": "Params",
        "type": "params",
        "color": "#3E72E7",
    }
    # context keys sorted, as Aim hands them back; the key is what the UI's getMetricHash
    # gives (computed in node: aim64encode({metricName, contextName}))
    assert auc["label"] == 'auc_macro checkpoint="best", subset="test"'
    assert auc["key"] == (
        "O-JTdCJTIybWV0cmljTmFtZSUyMjolMjJhdWNfbWFjcm8lMjIsJTIyY29udGV4dE5hbWUlMjI6JTIyJTIwY2hlY2"
        "twb2ludD0lNUMlMjJiZXN0JTVDJTIyLCUyMHN1YnNldD0lNUMlMjJ0ZXN0JTVDJTIyJTIyJTdE"
    )
    assert auc["value"] == {
        "option_name": "auc_macro",
        "context": {"checkpoint": "best", "subset": "test"},
    }
    assert (auc["type"], auc["group"]) == ("metrics", "auc_macro")
    assert f1["label"] == 'f1_macro subset="test", thresholds="tuned"'
    assert state["select"]["query"] == 'run.experiment == "pooling_jigsaw"'
    assert state["grouping"] == {"color": ["run.params.hparams.config.model.pooling"]}
    # the scores' columns pinned beside the run name (the UI's own first pinned column)
    assert state["table"]["columnsOrder"]["left"] == ["run", param["key"], auc["key"], f1["key"]]


def test_encoding_matches_javascript() -> None:
    # node -e 'console.log(btoa(encodeURI(JSON.stringify({metricName: "f1/é ~x?#", ...}))))'
    value = {"metricName": "f1/é ~x?#", "contextName": ' a="b<c>", t="tuned"'}
    assert aim64encode(value) == (
        "O-JTdCJTIybWV0cmljTmFtZSUyMjolMjJmMS8lQzMlQTklMjB-eD8jJTIyLCUyMmNvbnRleHROYW1lJTIyOiUyMiUy"
        "MGE9JTVDJTIyYiUzQ2MlM0UlNUMlMjIsJTIwdD0lNUMlMjJ0dW5lZCU1QyUyMiUyMiU3RA"
    )
    assert metric_key("__system__cpu", {}) == "__system__cpu"


@pytest.mark.parametrize(
    ("field", "stored"),
    [
        (POOLING, "run.params.hparams.config.model.pooling"),
        ("hparams.config.model.pooling", "run.params.hparams.config.model.pooling"),
        ("run.experiment", "run.props.experiment.name"),
        ("run.hash", "run.hash"),
        ("run.params.sweep", "run.params.sweep"),
    ],
)
def test_grouping_fields_as_the_ui_stores_them(field: str, stored: str) -> None:
    assert grouping_field(field) == stored


# -- the bookmark in the repo's database ----------------------------------------------------
def bookmarks(repo: Path) -> list[tuple[str, str, int, str, str]]:
    with sqlite3.connect(repo / ".aim" / "aim_db") as db:
        return db.execute(
            "SELECT d.name, d.uuid, d.is_archived, s.uuid, s.state FROM dashboards d "
            "JOIN explore_states s ON s.dashboard_id = d.uuid WHERE s.type = 'params'"
        ).fetchall()


def test_view_is_saved_and_replaced_by_name_in_the_repo(tmp_path: Path) -> None:
    ensure_aim_repo(tmp_path)
    first = save_params_view(tmp_path, "pooling", "", ["a"], [TEST_AUC], [POOLING])
    again = save_params_view(tmp_path, "pooling", "run.experiment == 'x'", [], [TEST_F1], [])
    other = save_params_view(tmp_path, "other", "", [], [TEST_F1], [])
    assert again == first and other.app_id != first.app_id
    assert first.path == f"/params/{first.app_id}"
    rows = {
        name: (board, archived, app, json.loads(state))
        for name, board, archived, app, state in bookmarks(tmp_path)
    }
    assert set(rows) == {"pooling", "other"}
    board, archived, app, state = rows["pooling"]
    assert (board, archived, app) == (first.dashboard_id, 0, first.app_id)
    assert state["select"]["query"] == "run.experiment == 'x'"
    assert [o["label"] for o in state["select"]["options"]] == [
        'f1_macro checkpoint="best", subset="test"'
    ]


def test_command_saves_the_pooling_view(tmp_path: Path) -> None:
    ensure_aim_repo(tmp_path)
    done = run_module("src.aim_view", f"repo={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    [(name, _, _, app, state)] = bookmarks(tmp_path)
    assert name == "pooling comparison"
    assert f"/params/{app}" in done.stdout
    state = json.loads(state)
    assert state["select"]["query"] == '"pooling_hypothesis" in run.tags'
    assert state["grouping"]["color"] == ["run.params.hparams.config.model.pooling"]
    labels = [o["label"] for o in state["select"]["options"]]
    assert labels[1:3] == ["hparams.config.model.pooling", "scores.best.test.auc_macro"]


def test_missing_repo_or_a_tracking_server_is_a_clear_error(tmp_path: Path) -> None:
    done = run_module("src.aim_view", f"repo={tmp_path}")
    assert done.returncode == 2 and "no Aim repo" in done.stderr
    done = run_module("src.aim_view", "repo=aim://127.0.0.1:53800")
    assert done.returncode == 2 and "http://" in done.stderr


# -- end to end: tiny runs, the view, the UI in a browser ----------------------------------
@pytest.mark.slow
@pytest.mark.skipif(
    not shutil.which("chromedriver"), reason="needs Debian chromium-driver (.ci/run installs it)"
)
def test_a_users_sweep_opens_in_the_ui_coloured_by_what_it_sweeps(tmp_path: Path) -> None:
    """A user's own sweep (no experiment tag), then ``src.aim_view sweep=<the printed path>``:
    the UI shows exactly that sweep's runs, one colour per swept model, the primary metric's
    values in the table."""
    from selenium.webdriver.common.by import By

    from src.tracking.ui import start_aim_ui, stop_aim_ui, wait_until_up
    from tests.e2e.test_sweeps import multirun
    from tests.tracking.test_aim_browser import headless_chromium
    from tests.tracking.test_aim_ui import free_port

    result = multirun(tmp_path, "logger=aim", "model=cls_pooler,mean_pooler")
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout.split("compare the runs: python -m src.compare sweep=")[1].split()[0]
    repo = tmp_path / "aim"
    done = run_module("src.aim_view", f"repo={repo}", f"sweep={printed}")
    assert done.returncode == 0, done.stderr[-2000:]
    [(_, _, _, app_id, _)] = [b for b in bookmarks(repo) if b[0].startswith("sweep ")]
    port = free_port()
    ui = start_aim_ui(repo, port=port)
    driver = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + "/", timeout=180)
        driver = headless_chromium(tmp_path)
        driver.get(f"{url}/params/{app_id}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(group_colours(driver)) < 2:
            time.sleep(1)
        for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
            button.click()  # the "join the community" pop-up
        for button in driver.find_elements(By.CSS_SELECTOR, ".Table__group__config_expandButton"):
            driver.execute_script("arguments[0].click()", button)  # show each group's runs
        time.sleep(2)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        titles = driver.execute_script(
            "return Array.from(document.querySelectorAll('.Table__group__config [title]'))"
            ".map(e => e.title)"
        )
        assert titles and all(t.endswith("grouped by  run.swept.model") for t in titles), titles
        assert len(set(group_colours(driver))) == 2, SCREENSHOT
        table = driver.find_element(By.CSS_SELECTOR, ".Table").text
        assert '"cls_pooler"' in table and '"mean_pooler"' in table, table[:500]
        for metrics in (tmp_path / "sweep").glob("*/metrics.json"):  # each run's test AUC
            auc = json.loads(metrics.read_text())["metrics"]["test/auc_macro"]
            assert str(round(auc, 8)) in table, (auc, SCREENSHOT)
    finally:
        if driver is not None:
            driver.quit()
        stop_aim_ui(ui)


def group_colours(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.Table__group.colorIndicator'))"
        ".map(e => e.style.getPropertyValue('--color-indicator')).filter(c => c)"
    )


# -- the view of a user's sweep -------------------------------------------------------------
def test_a_sweep_is_found_by_its_relative_or_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.tracking.logger import override_values, sweep_id
    from src.tracking.views import score_param, sweep_view, swept_keys

    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "logs" / "train" / "multiruns" / "t"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - model=cls_pooler,mean_pooler\n"
        "    - seed=1,2\n    - data.max_length=64\n"
        "data:\n  primary_metric: test/auc_macro\n"
    )
    assert sweep_id("logs/train/multiruns/t") == sweep_id(sweep) == "logs/train/multiruns/t"
    assert sweep_id("/elsewhere/s") == "/elsewhere/s"
    assert swept_keys(["model=a,b", "seed=1,2", "x=1", "y=[1,2]"]) == ["model", "seed"]
    assert score_param("test/tuned/f1_macro") == "scores.best.test.tuned.f1_macro"
    assert override_values(["seed=1", "paths.log_dir=x", "+a.b=2"]) == {"seed": "1", "a.b": "2"}
    for given in ("logs/train/multiruns/t", str(sweep)):
        spec = sweep_view(given, extra_metrics=["test/f1_macro"])
        assert spec.query == 'run.sweep == "logs/train/multiruns/t"'
        assert spec.params == [
            "swept.model",
            "swept.seed",
            "scores.best.test.auc_macro",  # the primary metric first
            "scores.best.test.f1_macro",
        ]
        assert spec.group_by == ["run.swept.model"]  # the first swept value but the seed
        assert spec.metrics == []
    with pytest.raises(TextlabError, match="multirun.yaml not found"):
        sweep_view(tmp_path)


def test_command_saves_the_view_of_a_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - seed=1,2,3\n"
        "data:\n  primary_metric: test/auc_macro\n"
    )
    ensure_aim_repo(tmp_path)
    done = run_module("src.aim_view", f"repo={tmp_path}", f"sweep={sweep}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f'saved the Aim view "sweep {sweep.resolve()}"' in done.stdout
