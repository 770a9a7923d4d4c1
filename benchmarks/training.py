"""Training cases: the Lightning loop vs a bare PyTorch loop (1), and padding strategies (2).

Both loops get the same model (built from the real config, same seed), the same batches in the
same order, the same precision (bf16 autocast), optimizer, schedule, gradient clipping and
thread count. Warm-up steps run first and are not timed.
"""

from __future__ import annotations

import time
from typing import Any, cast

import lightning.pytorch as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, TQDMProgressBar
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import BenchSettings, compose_train_config, use_threads
from src.config import build, build_datamodule, instantiate_group
from src.data.batching import BucketBatchSampler
from src.models.module import decay_groups, linear_warmup_decay

PADDING_STRATEGIES = ("pad_to_max_length", "dynamic", "dynamic_bucketed")


def model_and_data(settings: BenchSettings, max_length: int, *overrides: str):
    cfg = compose_train_config(settings, f"data.max_length={max_length}", *overrides)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = build(cfg.model, label_names=datamodule.label_names)
    return cfg, model, datamodule


def first_batches(datamodule, count: int) -> list[dict[str, torch.Tensor]]:
    batches = []
    for batch in datamodule.train_dataloader():
        batches.append(batch)
        if len(batches) == count:
            return batches
    raise ValueError(f"the training split has fewer than {count} batches")


def bare_loop(
    model,
    batches: list[dict[str, torch.Tensor]],
    warmup: int,
    precision: str,
    cfg,
    device: str | torch.device = "cpu",
    fused: bool = False,
    step_starts: list[float] | None = None,
) -> float:
    """Plain PyTorch: what Lightning does per step, minus Lightning, on ``device`` (the model
    and the batches moved there first; GPU time synchronised). Returns timed seconds;
    ``step_starts`` (if given) gets the clock at the start of every timed step and at the end."""
    device = torch.device(device)
    model.to(device).train()
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    optimizer = torch.optim.AdamW(
        decay_groups(model, cfg.model.weight_decay),
        lr=cfg.model.optimizer.lr,
        fused=True if fused else None,  # None: torch's default
    )
    scheduler = linear_warmup_decay(optimizer, len(batches))
    clip = cfg.trainer.gradient_clip_val
    bf16 = str(precision).startswith("bf16")
    start = time.perf_counter()
    for step, batch in enumerate(batches):
        if step == warmup:
            synchronize(device)
            start = time.perf_counter()
        if step_starts is not None and step >= warmup:
            step_starts.append(time.perf_counter())
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(batch["input_ids"], batch["attention_mask"]).float()
            loss = model.loss_fn(logits, batch["labels"])
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
    synchronize(device)
    end = time.perf_counter()
    if step_starts is not None:
        step_starts.append(end)
    return end - start


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU kernels, so a step's time is its own (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(Callback):
    """Times training batches ``warmup`` .. the last one (Lightning's own step hooks), and
    records the device the model trained on (Lightning moves it back to the CPU after fit).
    ``step_starts``: the clock at the start of every timed batch and at the end (on the CPU;
    on a GPU only the first and last are synchronised)."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.last = warmup, warmup + steps - 1
        self.start = self.end = 0.0
        self.device = torch.device("cpu")
        self.step_starts: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup:
            self.device = pl_module.device
            synchronize(pl_module.device)
            self.start = time.perf_counter()
        if batch_idx >= self.warmup:
            self.step_starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.last:
            synchronize(pl_module.device)
            self.end = time.perf_counter()
            self.step_starts.append(self.end)


def lightning_loop(
    model,
    batches: list[dict[str, torch.Tensor]],
    warmup: int,
    cfg,
    logger: str,
    step_starts: list[float] | None = None,
) -> tuple[float, torch.device]:
    """``src.train``'s trainer config, callbacks (checkpointing) and logger, no progress bar.
    Returns the timed seconds and the device the model trained on; ``step_starts`` as in
    ``bare_loop``."""
    timer = StepTimer(warmup, len(batches) - warmup)
    callbacks = [c for c in instantiate_group(cfg.callbacks) if not isinstance(c, TQDMProgressBar)]
    loggers = instantiate_group(cfg.get("logger"))
    if not loggers:  # LearningRateMonitor needs a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer = build(
        cfg.trainer,
        callbacks=[*callbacks, timer],
        logger=loggers or False,
        max_epochs=1,
        max_steps=len(batches),
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    # a list is a map-style dataset (indexable, sized), which torch's annotation leaves out
    dataset = cast(Dataset[dict[str, torch.Tensor]], batches)
    trainer.fit(model, train_dataloaders=DataLoader(dataset, batch_size=None))
    for lg in loggers:
        getattr(lg, "close", lg.finalize)("success")
    if step_starts is not None:
        step_starts.extend(timer.step_starts)
    return timer.end - timer.start, timer.device


def loop_case(settings: BenchSettings, loop: str) -> dict[str, Any]:
    """Case 1: samples/s of one loop over warm-up + timed steps."""
    use_threads(settings.threads)
    total = settings.warmup_steps + settings.train_steps
    logger = "aim" if loop == "lightning" else "none"
    cfg, model, datamodule = model_and_data(settings, settings.train_max_length, f"logger={logger}")
    batches = first_batches(datamodule, total)
    starts: list[float] = []
    if loop == "lightning":
        seconds, _ = lightning_loop(model, batches, settings.warmup_steps, cfg, logger, starts)
    else:
        seconds = bare_loop(
            model, batches, settings.warmup_steps, settings.precision, cfg, step_starts=starts
        )
    samples = sum(len(b["labels"]) for b in batches[settings.warmup_steps :])
    return {
        "samples_per_s": samples / seconds,
        "timed_steps": settings.train_steps,
        "seconds": seconds,
        "step_seconds": np.diff(starts).tolist(),
        "batch_size": settings.batch_size,
        "logger": logger,
    }


def pad_to(batch: dict[str, torch.Tensor], width: int, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a dynamically padded batch to ``width`` (what padding='max_length' gives)."""
    extra = width - batch["input_ids"].shape[1]
    ids = torch.nn.functional.pad(batch["input_ids"], (0, extra), value=pad_id)
    mask = torch.nn.functional.pad(batch["attention_mask"], (0, extra), value=0)
    return {**batch, "input_ids": ids, "attention_mask": mask}


def padding_case(settings: BenchSettings, strategy: str) -> dict[str, Any]:
    """Case 2: padded-token share of a whole epoch, and its time from timed batches."""
    use_threads(settings.threads)
    bucketing = f"data.bucketing.enabled={strategy == 'dynamic_bucketed'}"
    chunks = f"data.bucketing.chunk_batches={settings.chunk_batches}"
    width = settings.padding_max_length
    cfg, model, datamodule = model_and_data(settings, width, "logger=none", bucketing, chunks)
    loader = datamodule.train_dataloader()
    assert isinstance(loader.batch_sampler, BucketBatchSampler) == (strategy == "dynamic_bucketed")
    epoch = list(loader)
    if strategy == "pad_to_max_length":
        epoch = [pad_to(b, width, datamodule.tokenizer.pad_token_id) for b in epoch]
    real = sum(int(b["attention_mask"].sum()) for b in epoch)
    slots = sum(b["attention_mask"].numel() for b in epoch)
    timed = epoch[: 1 + settings.padding_batches]  # one warm-up batch, then the timed ones
    seconds = bare_loop(model, timed, 1, settings.precision, cfg)
    timed_slots = sum(b["attention_mask"].numel() for b in timed[1:])
    return {
        "padded_fraction": 1 - real / slots,
        "epoch_batches": len(epoch),
        "timed_batches": settings.padding_batches,
        "timed_s": seconds,
        # the timed batches' seconds per token slot (real or padding) times the epoch's slots:
        # corrects for the timed batches being wider or narrower than the epoch's average
        "epoch_s_extrapolated": seconds / timed_slots * slots,
        "mean_batch_width": float(np.mean([b["input_ids"].shape[1] for b in epoch])),
        "timed_mean_batch_width": float(np.mean([b["input_ids"].shape[1] for b in timed[1:]])),
    }
