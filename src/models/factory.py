"""``model=cls_pooler`` / ``avg_pooler`` serve every sequence task: the data config's ``task``
picks the LightningModule (``${data.task}``)."""

from __future__ import annotations

from typing import Any

from src.models.multiclass_classifier import MulticlassClassifier
from src.models.pooled_classifier import PooledSequenceClassifier
from src.models.sequence_classifier import MultilabelClassifier
from src.utils.errors import TextlabError

CLASSIFIERS: dict[str, type[PooledSequenceClassifier]] = {
    "multilabel": MultilabelClassifier,
    "multiclass": MulticlassClassifier,
}
#: options that only one task understands; dropped for the other
TASK_ONLY = {"multilabel": {"pos_weight"}, "multiclass": {"class_weights"}}


def sequence_classifier(task: str = "multilabel", **kwargs: Any) -> PooledSequenceClassifier:
    """The classifier of ``task`` (``multilabel`` or ``multiclass``) built from ``kwargs``."""
    if task not in CLASSIFIERS:
        hint = " (token tasks use model=token_tagger)" if task == "token" else ""
        raise TextlabError(
            f"model=cls_pooler/avg_pooler cannot do task {task!r}{hint}; "
            f"data.task must be one of {sorted(CLASSIFIERS)}"
        )
    for other, keys in TASK_ONLY.items():
        if other != task:
            for key in keys:
                _drop_unused(kwargs, key, task)
    return CLASSIFIERS[task](**kwargs)


def _drop_unused(kwargs: dict[str, Any], key: str, task: str) -> None:
    """Remove an option of the other task; refuse it when the user switched it on."""
    value = kwargs.pop(key, None)
    enabled = value.get("enabled", False) if hasattr(value, "get") else value not in (None, "none")
    if enabled:
        raise TextlabError(f"model.{key} does not apply to {task} data; leave it at its default")
