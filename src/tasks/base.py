"""What a task is: everything that differs between multi-label, multi-class and token tagging.

The data config names its task (``data.task._target_``); the model, the after-fit analyses,
prediction, export and the baselines ask the task object and never compare task names. A new
task is a subclass of :class:`Task` in this package, registered in ``src.tasks.TASKS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from src.errors import TextlabError

#: what a model emits: one prediction per text, or one per (sub)token
SEQUENCE, TOKENS = "sequence", "tokens"


class Task(ABC):
    """A task's loss, metrics, probabilities and formats. Config options are constructor
    arguments (``data.task.pos_weight`` ...); tasks hold no trained state."""

    #: the task's name, as in results tables, export folders and predictions
    name: ClassVar[str]
    #: SEQUENCE (one output row per text) or TOKENS (one per sub-token)
    output: ClassVar[str] = SEQUENCE
    #: metric names shown in the progress bar
    prog_bar: ClassVar[frozenset[str]] = frozenset()
    #: aggregate metric names a printed summary shows, val and test side by side
    headline: ClassVar[tuple[str, ...]] = ()
    #: whether predictions are decided by a threshold per label (thresholds.json)
    per_label_thresholds: ClassVar[bool] = False

    # -- training ---------------------------------------------------------------------------
    @abstractmethod
    def loss(self, label_names: list[str]) -> nn.Module:
        """A module computing the training loss from float32 logits and a batch's ``labels``."""

    def fit_loss(self, loss: nn.Module, train_labels: np.ndarray) -> None:  # noqa: B027
        """Adapt the loss to the training split (class or positive weights); default: nothing."""

    @abstractmethod
    def scores(self, label_names: list[str]) -> Any:
        """A fresh accumulator of evaluation scores (``update_scores`` / ``compute``)."""

    @abstractmethod
    def update_scores(self, scores: Any, logits: torch.Tensor, batch: dict[str, Any]) -> None:
        """Add a batch's float32 logits to the accumulator."""

    @abstractmethod
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from logits (sigmoid per label, softmax over classes or tags)."""

    def prior_logits(self, train_labels: np.ndarray) -> np.ndarray:
        """The output bias that makes an untrained head predict the training priors."""
        raise TextlabError(
            f"the output bias can be started at the label priors for sequence classifiers, "
            f"not for the {self.name} task; switch that option off"
        )

    def check_model(self, output: str, model_option: str) -> None:
        """Refuse a model whose output shape cannot serve this task, in one line."""
        if output == self.output:
            return
        if self.output == TOKENS:
            raise TextlabError(
                "this data set labels words (task token); use model=token_tagger with it"
            )
        raise TextlabError(
            f"{model_option} tags words, but this is a {self.name} data set; use "
            "model=cls_pooler or model=avg_pooler, or a token data set (data=wnut17, "
            "data=vua_metaphor)"
        )

    def config(self) -> dict[str, Any]:
        """The task's options as plain values (for checkpoints and export folders)."""
        return {}
