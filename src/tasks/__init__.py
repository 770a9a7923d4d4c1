"""The tasks textlab trains for, by name. Importing this package is light (no torch), so the
ONNX-only prediction path can use the names; the task classes are imported on demand."""

from __future__ import annotations

import importlib
from typing import Any

#: task name -> "module:class"
TASKS = {
    "multilabel": "src.tasks.multilabel.task:MultilabelTask",
    "multiclass": "src.tasks.multiclass.task:MulticlassTask",
    "token": "src.tasks.token.task:TokenTask",
}


def task_class(name: str) -> Any:
    """The Task class registered under ``name``."""
    from src.errors import TextlabError

    if name not in TASKS:
        raise TextlabError(f"unknown task {name!r}; textlab knows {sorted(TASKS)}")
    module, _, cls = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
