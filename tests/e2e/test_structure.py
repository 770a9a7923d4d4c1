"""The shape of the code: what differs by task lives in src/tasks, and nothing refers to files
outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from src.tasks import TASKS
from tests.conftest import ROOT

#: a comparison with a task, or a task name spelled out as a string
TASK_NAMES = "|".join(sorted(TASKS))
TASK_SWITCH = re.compile(
    r"""\btask\w*\s*(==|!=)|\btask\w*\s+(not\s+)?in\s*[(\[{"']|["']"""
    + f"({TASK_NAMES})"
    + r"""["']"""
)


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_no_task_switch_outside_src_tasks() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in python_files("src")
        if "tasks" not in path.relative_to(ROOT / "src").parts[:1]
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if TASK_SWITCH.search(line)
    ]
    assert offenders == [], "ask the task object instead:\n" + "\n".join(offenders)


def test_the_check_sees_a_switch() -> None:
    assert TASK_SWITCH.search('if cfg.data.task == "token":')
    assert TASK_SWITCH.search("    if task in ('multilabel', 'multiclass'):")
    assert not TASK_SWITCH.search("model.task.probabilities(logits)")


def test_nothing_refers_outside_the_repository_or_to_issues() -> None:
    outside = re.compile(r"\.\./shared|DESIGN\.md|[Ii]ssue #?\d")
    tracked = [
        path
        for folder in ("src", "conf", "tests", "benchmarks", "experiments", "docs", "aim", ".ci")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in {".py", ".yaml", ".md", ".sh", ".yml", ""}
        and "__pycache__" not in path.parts
        and path.name != "test_structure.py"
    ]
    tracked += [ROOT / name for name in ("README.md", "Makefile", "pyproject.toml")]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in tracked
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if outside.search(line)
    ]
    assert offenders == []
