"""Callbacks around fit: the output bias started at the label priors, the untrained model
scored first (base-vs-tuned), checkpoints that keep ``best.ckpt`` meaningful (written whole or
not at all, and carried over when a run is resumed), and the loss/metric history the curve
plots draw."""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as L
import torch

from src.models.module import EncoderModule, set_prior_bias
from src.runs.results import BASE, IMPROVEMENT, headline_keys

log = logging.getLogger(__name__)


class PriorBiasInit(L.Callback):
    """Start the output bias at the training label priors instead of at p = 0.5.

    With many rare labels (GoEmotions: 28 labels, about 3.5% positive each) and a zero output
    bias, the first hundreds of AdamW steps go into pushing every logit down to the prior (Adam
    moves the bias by about lr per step), which bends encoder and head towards "negative for
    everything". Starting at the prior log-odds makes the initial loss the prior entropy, so
    training starts on what discriminates. A resumed fit keeps the checkpoint's bias; a model
    with no output layer over the labels (a token tagger) is left as it is.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or trainer.ckpt_path:
            return
        if (
            not isinstance(pl_module, EncoderModule)
            or getattr(pl_module, "output_layer", None) is None
        ):
            log.info(
                "prior bias: %s has no output layer over labels; left as it is",
                type(pl_module).__name__,
            )
            return
        # Trainer.datamodule is set at run time; Lightning's stubs lack it
        dataset = getattr(trainer.datamodule, "train_dataset", None)  # type: ignore[attr-defined]
        labels = getattr(dataset, "labels", None)
        if labels is None:  # fit on bare dataloaders: the training labels are unknown here
            log.info("prior bias: no DataModule with training labels; the bias is left at 0")
            return
        set_prior_bias(pl_module, labels)


class BaseVsTuned(L.Callback):
    """Score the model as it is before fit (its untrained head) on the test split.

    Stored as ``base/test/...``; after the final test, ``improvement/test/...`` is the
    fine-tuned minus base difference of every headline metric. Both reach the loggers and, as
    ``run_metrics``, the run's metrics.json and results row. Evaluation uses no random numbers,
    so the training run itself is the same with or without it.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.run_metrics: dict[str, float] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Trainer.datamodule is set at run time; Lightning's stubs lack it
        if not self.enabled or stage != "fit" or trainer.datamodule is None:  # type: ignore[attr-defined]
            return
        device = trainer.strategy.root_device
        scorer = L.Trainer(
            accelerator=device.type,
            devices=[device.index] if device.type == "cuda" and device.index is not None else 1,
            precision=trainer.precision,
            logger=False,
            callbacks=[],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        # Trainer.datamodule is set at run time; Lightning's stubs lack it
        datamodule = trainer.datamodule  # type: ignore[attr-defined]
        try:
            results = scorer.test(pl_module, datamodule=datamodule, verbose=False)[0]
        finally:  # the module and data belong to the training run again
            pl_module.trainer = trainer
            datamodule.trainer = trainer
        base = {f"{BASE}{key}": float(value) for key, value in results.items()}
        self.run_metrics = dict(base)
        for logger in trainer.loggers:
            logger.log_metrics(base, step=0)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or not self.run_metrics:
            return
        tuned = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        gains = {
            IMPROVEMENT + key: tuned[key] - self.run_metrics[BASE + key]
            for key in headline_keys(tuned)
            if BASE + key in self.run_metrics
        }
        self.run_metrics.update(gains)
        for logger in trainer.loggers:
            logger.log_metrics(gains, step=trainer.global_step)


class MetricHistory(L.Callback):
    """The training loss per step and the validation metrics per epoch, kept in memory so
    every run can draw its curves whatever logger it uses.

    ``steps``: [(global step, train loss)]; ``epochs``: one dict of val/* per validation.
    """

    def __init__(self) -> None:
        self.steps: list[tuple[int, float]] = []
        self.epochs: list[dict[str, float]] = []
        self._since_validation: list[float] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch, batch_idx
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            value = float(loss.detach().float().cpu())
            self.steps.append((trainer.global_step, value))
            self._since_validation.append(value)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        row = {"epoch": float(trainer.current_epoch), "step": float(trainer.global_step)}
        if self._since_validation:
            row["train/loss"] = sum(self._since_validation) / len(self._since_validation)
            self._since_validation = []
        for key, value in trainer.callback_metrics.items():
            if key.startswith("val/") and isinstance(value, torch.Tensor) and value.numel() == 1:
                row[key] = float(value)
        self.epochs.append(row)

    def as_dict(self) -> dict[str, Any]:
        return {"steps": [list(s) for s in self.steps], "epochs": list(self.epochs)}
