"""Every task's prediction format, looked up by task name: the one JSON schema of a prediction
and the ``OutputFormat`` that turns logits into it, outside PyTorch.

``python -m src.predict``, ``src.onnx_predict``, ``src.serve`` and the Python API
(``src.deploy``) all turn model outputs into predictions through these formats, so the same text
and checkpoint give the same JSON everywhere. Each task's half lives beside its module
(``src.tasks.<name>.output``); the task classes import torch, the formats do not, so the ONNX
path runs without torch.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from src.errors import TextlabError
from src.tasks.multiclass.output import MulticlassFormat, MulticlassPrediction
from src.tasks.multilabel.output import MultilabelFormat, MultilabelPrediction
from src.tasks.output import OutputFormat
from src.tasks.token.output import TokenFormat, TokenPrediction

#: one prediction of any task (the ``task`` field says which)
Prediction = Annotated[
    MultilabelPrediction | MulticlassPrediction | TokenPrediction, Field(discriminator="task")
]
PREDICTION = TypeAdapter(Prediction)


#: task name -> its output format (names as in ``src.tasks.TASKS``)
FORMATS: dict[str, OutputFormat] = {
    fmt.name: fmt for fmt in (MultilabelFormat(), MulticlassFormat(), TokenFormat())
}


def output_format(name: str) -> OutputFormat:
    """The output format of the task called ``name``."""
    if name not in FORMATS:
        raise TextlabError(f"unknown task {name!r}; textlab knows {sorted(FORMATS)}")
    return FORMATS[name]


def task_of_export(export_task: str) -> str:
    """The task name behind an export folder's ``task`` field (folders that predate
    ``task_name``)."""
    for fmt in FORMATS.values():
        if fmt.export_task == export_task:
            return fmt.name
    raise TextlabError(f"unknown export task {export_task!r}; export the model again")
