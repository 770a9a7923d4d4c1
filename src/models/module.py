"""The LightningModules: an encoder, a head, and the training loop every task shares.

``PooledClassifier`` turns each text into one vector (see ``src.models.poolers``) and a tanh
projection head into one logit per label or class; ``TokenTagger`` puts a linear layer on every
sub-token. What differs by task (loss, metrics, probabilities) comes from the ``task`` object
(``src.tasks``), which the data config names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import lightning.pytorch as L
import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from src.config import plain_dict, run_folder_safe
from src.data.batching import ROW_INDEX
from src.errors import TextlabError
from src.models.encoders import ENCODER_INPUTS, accepted_inputs, freeze_encoder, max_positions
from src.models.poolers import build_pooler, check_layers, encoder_depth, scalar_mix
from src.tasks.base import SEQUENCE, TOKENS, Task

if TYPE_CHECKING:
    from transformers import PreTrainedModel

NO_DECAY_NAMES = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


# -- optimisation ---------------------------------------------------------------------------
def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Biases and LayerNorm weights get no weight decay (the standard BERT fine-tuning recipe);
    frozen parameters are left out."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_norm = param.ndim == 1 or name.endswith(NO_DECAY_NAMES)
        (no_decay if is_norm else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


@run_folder_safe
def linear_warmup_decay(
    optimizer: Optimizer, num_training_steps: int, warmup_ratio: float = 0.1
) -> LambdaLR:
    """Learning rate rises linearly for ``warmup_ratio`` of the steps, then falls to zero."""
    total = max(1, int(num_training_steps))
    warmup = int(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return LambdaLR(optimizer, factor)


def takes_fused(factory: Callable[..., Optimizer]) -> bool:
    """Whether an optimizer factory is Adam/AdamW without an explicit ``fused`` setting: on
    CUDA the fused kernel updates all parameters in one launch."""
    func = getattr(factory, "func", factory)
    keywords = getattr(factory, "keywords", {}) or {}
    return func in (torch.optim.Adam, torch.optim.AdamW) and "fused" not in keywords


def check_max_length(max_length: Any, encoder: nn.Module) -> None:
    """Texts are cut to ``data.max_length`` tokens; an encoder has position embeddings for
    only so many, and a longer batch would fail deep inside its forward pass."""
    limit = max_positions(encoder)
    if isinstance(max_length, int) and isinstance(limit, int) and max_length > limit:
        raise TextlabError(
            f"data.max_length={max_length} is more than the {limit} token positions the encoder "
            f"({type(encoder).__name__}) has; set data.max_length={limit} or less"
        )


# -- heads ----------------------------------------------------------------------------------
class TanhProjectionHead(nn.Module):
    """dropout -> Linear(in, hidden) -> tanh -> dropout -> Linear(hidden, num_labels).

    The tanh projection mirrors BERT's own pooler, so every pooler gets the same capacity on
    top and the comparison between them is fair.
    """

    def __init__(
        self, in_size: int, num_labels: int, dropout: float = 0.1, hidden_size: int | None = None
    ) -> None:
        super().__init__()
        hidden_size = hidden_size or in_size
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_size, hidden_size),
            nn.Tanh(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_labels),
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


# -- the shared module ------------------------------------------------------------------------
class EncoderModule(L.LightningModule):
    """An encoder fine-tuned for a task: the train/val/test loops, optimizer and schedule.

    Subclasses build the head (``output`` says what it emits) and ``forward``.

    Args:
        encoder: an ``AutoModel`` (BERT, DistilBERT, ...) without task head.
        task: what the data set asks for (``src.tasks``): loss, metrics, probabilities.
        label_names: one name per output; metric keys use them (``val/auc/toxic``).
        dropout: dropout in the head.
        optimizer: a partial ``torch.optim`` constructor taking parameter groups.
        scheduler: a partial taking ``(optimizer, num_training_steps)``; stepped per batch.
        weight_decay: applied to all weights except biases and LayerNorm.
        freeze: ``{embeddings, layers, encoder}``: freeze the embeddings, the first N encoder
            layers, or the whole encoder (``src.models.encoders.freeze_encoder``).
        compile: ``{enabled, dynamic}``: ``torch.compile`` the encoder when a Trainer sets the
            model up (in place: checkpoints keep their keys); ``dynamic`` compiles for varying
            batch shapes once instead of once per padded length.
    """

    output: str = SEQUENCE
    #: the ``model=`` option, for errors
    option: str = "model"
    #: the layers after the encoder, which subclasses build
    head: nn.Module

    def __init__(
        self,
        encoder: PreTrainedModel,
        task: Task,
        label_names: list[str],
        dropout: float = 0.1,
        optimizer: Callable[..., Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        weight_decay: float = 0.01,
        freeze: Mapping[str, Any] | None = None,
        compile: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        task.check_model(self.output, self.option)
        self.compile_settings = plain_dict(compile) or {}
        self.task = task
        # from_pretrained returns the encoder in eval mode and Lightning keeps each module's mode,
        # so without this the encoder's dropout would stay off during fine-tuning.
        self.encoder = encoder.train()
        self.label_names = [str(name) for name in label_names]
        self.frozen_parameters = freeze_encoder(self.encoder, plain_dict(freeze))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.weight_decay = weight_decay
        self._encoder_inputs = accepted_inputs(encoder)

    def _finish_init(self) -> None:
        """After ``save_hyperparameters`` and the head: plain hyperparameters (checkpoints load
        weights-only), the loss and the score accumulators (no parameters, no RNG)."""
        self.hparams["freeze"] = plain_dict(self.hparams.get("freeze"))
        self.hparams["compile"] = self.compile_settings
        self.hparams["label_names"] = self.label_names
        self.loss_fn = self.task.loss(self.label_names)
        self.val_scores = self.task.scores(self.label_names)
        self.test_scores = self.task.scores(self.label_names)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any):
        """The encoder's outputs. Batch inputs it does not take (DistilBERT has no
        ``token_type_ids``) are left out; other keywords (``output_hidden_states``) pass."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, **extra}
        dropped = set(ENCODER_INPUTS) - set(self._encoder_inputs)
        return self.encoder(**{k: v for k, v in inputs.items() if k not in dropped})

    def configure_model(self) -> None:
        """Compile the encoder once, when a Trainer first sets the model up (``compile``)."""
        if self.compile_settings.get("enabled") and not getattr(self, "_compiled", False):
            self.encoder.compile(dynamic=bool(self.compile_settings.get("dynamic", True)))
            self._compiled = True

    # -- loops ------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Check the data's token length fits the encoder; let the task fit its loss to the
        training split (class / positive weights)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        check_max_length(getattr(datamodule, "max_length", None), self.encoder)
        labels = getattr(getattr(datamodule, "train_dataset", None), "labels", None)
        if stage == "fit" and labels is not None:
            self.task.fit_loss(self.loss_fn, labels)

    def _logits_and_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["input_ids"], batch["attention_mask"]).float()
        return logits, self.loss_fn(logits, batch["labels"])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        _, loss = self._logits_and_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        return loss

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str, scores: Any) -> None:
        logits, loss = self._logits_and_loss(batch)
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=len(batch["input_ids"]))
        self.task.update_scores(scores, logits, batch)

    def _log_scores(self, stage: str, scores: Any) -> None:
        for name, value in scores.compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=name in self.task.prog_bar)
        scores.reset()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val", self.val_scores)

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val", self.val_scores)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test", self.test_scores)

    def on_test_epoch_end(self) -> None:
        self._log_scores("test", self.test_scores)

    def predict_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Any]:
        """float32 logits of the batch, with its labels and its rows' dataset positions when it
        has them (for the analyses, which put the rows back into file order)."""
        out = {"logits": self(batch["input_ids"], batch["attention_mask"]).float()}
        for key in ("labels", ROW_INDEX):
            if key in batch:
                out[key] = batch[key]
        return out

    def configure_optimizers(self) -> Any:
        """AdamW (or the configured optimizer) over the decay groups; the schedule steps per
        batch over the trainer's estimated number of steps."""
        groups = decay_groups(self, self.weight_decay)
        factory = self.optimizer_factory or torch.optim.AdamW
        fused = self.device.type == "cuda" and takes_fused(factory)
        optimizer = factory(groups, fused=True) if fused else factory(groups)
        if self.scheduler_factory is None:
            return optimizer
        steps = self.trainer.estimated_stepping_batches
        scheduler = self.scheduler_factory(optimizer, num_training_steps=steps)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class PooledClassifier(EncoderModule):
    """encoder -> pooler -> tanh projection head -> one logit per label (or class).

    Args:
        pooling: how token vectors become one vector per text (``src.models.poolers``).
        pooling_layers: how many of the last layers ``layer_mean`` mixes.
        others: as :class:`EncoderModule`.
    """

    output = SEQUENCE
    option = "model=cls_pooler/avg_pooler"

    def __init__(
        self,
        encoder: PreTrainedModel,
        task: Task,
        label_names: list[str],
        pooling: str = "cls",
        dropout: float = 0.1,
        optimizer: Callable[..., Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        weight_decay: float = 0.01,
        freeze: Mapping[str, Any] | None = None,
        pooling_layers: int = 4,
        compile: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            encoder,
            task,
            label_names,
            dropout,
            optimizer,
            scheduler,
            weight_decay,
            freeze,
            compile,
        )
        self.save_hyperparameters(ignore=["encoder", "task", "optimizer", "scheduler"])
        self.pooler = build_pooler(pooling, encoder.config, pooling_layers)
        self.head = TanhProjectionHead(self.pooler.out_size, len(label_names), dropout)
        self._finish_init()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any
    ) -> torch.Tensor:
        """Logits [batch, labels]."""
        outputs = self.encode(input_ids, attention_mask, **self.pooler.encoder_kwargs, **extra)
        return self.head(self.pooler(outputs, attention_mask))

    def output_layer(self) -> nn.Linear:
        """The last Linear of the head: its bias is where label priors go."""
        return [m for m in self.head.modules() if isinstance(m, nn.Linear)][-1]


class TokenTagger(EncoderModule):
    """encoder -> dropout -> Linear per sub-token: one logit per tag (first sub-token of each
    word labelled, the others ignored).

    Args:
        mix_layers: the token vectors are a learned softmax-weighted mix of the last N layers'
            (ELMo's scalar mix; equal weights at the start); 1 = the last layer alone.
        others: as :class:`EncoderModule`; the tag scheme (BIO or binary) belongs to the task.
    """

    output = TOKENS
    option = "model=token_tagger"

    def __init__(
        self,
        encoder: PreTrainedModel,
        task: Task,
        label_names: list[str],
        dropout: float = 0.1,
        optimizer: Callable[..., Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        weight_decay: float = 0.01,
        freeze: Mapping[str, Any] | None = None,
        compile: Mapping[str, Any] | None = None,
        mix_layers: int = 1,
    ) -> None:
        super().__init__(
            encoder,
            task,
            label_names,
            dropout,
            optimizer,
            scheduler,
            weight_decay,
            freeze,
            compile,
        )
        self.save_hyperparameters(ignore=["encoder", "task", "optimizer", "scheduler"])
        self.mix_layers = check_layers(
            mix_layers, encoder_depth(encoder.config), "model.mix_layers"
        )
        # no parameter for one layer: checkpoints of the plain tagger keep their keys
        self.layer_logits = nn.Parameter(torch.zeros(mix_layers)) if mix_layers > 1 else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, len(label_names))
        self._finish_init()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any
    ) -> torch.Tensor:
        """Logits [batch, sequence, tags]."""
        if self.layer_logits is None:
            hidden = self.encode(input_ids, attention_mask, **extra).last_hidden_state
        else:
            outputs = self.encode(input_ids, attention_mask, output_hidden_states=True, **extra)
            hidden = scalar_mix(outputs.hidden_states[-self.mix_layers :], self.layer_logits)
        return self.head(self.dropout(hidden))


def set_prior_bias(module: EncoderModule, train_labels: np.ndarray) -> np.ndarray:
    """Set the output bias of a classifier to its task's priors of ``train_labels``."""
    bias = module.task.prior_logits(np.asarray(train_labels))
    output_layer = getattr(module, "output_layer", None)
    if output_layer is None:
        raise TextlabError(
            f"{type(module).__name__} has no output layer to start at the label priors; "
            "switch the prior-bias option off"
        )
    layer = output_layer()
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))
    return bias
