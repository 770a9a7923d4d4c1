"""`python -m src.train [overrides]`: fit, test the best checkpoint, analyse it, record the run.

Wiring only: every object comes from the config (``conf/train.yaml``); what a run writes
besides its metrics (thresholds, calibration, plots, statistics, Aim artifacts) is done by the
callbacks in ``conf/callbacks/``. In a multirun (``-m``) a failing job is recorded in its folder
and the sweep goes on; a single run fails in one line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hydra
import lightning.pytorch as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig

from src.callbacks.analyses import AfterFitAnalysis
from src.callbacks.records import RunStatistics
from src.callbacks.training import MetricHistory
from src.config import build, build_datamodule, instantiate_group
from src.models.module import check_max_length
from src.runs.console import checkpoint_notices_once, per_label_table, show_config, to_log_file
from src.runs.lifecycle import Run, in_sweep, run_job
from src.runs.loading import check_resume_checkpoint, resolve_checkpoint, run_dir_of
from src.runs.resume import command_line_overrides, resumed_config
from src.runs.status import run_status
from src.tasks.formats import output_format
from src.tracking.launch import command_line
from src.tracking.logger import scoring

HEADLINE = ("auc_macro", "f1_macro", "f1_micro", "tuned/f1_macro", "accuracy", "f1", "loss")
RESUME_FROM = ("last.ckpt", "best.ckpt")
#: the phases of a run, in the order they run (metrics.json's ``phases_s``)
PHASES = ("data", "fit", "evaluate", "analyses")


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job from a composed config; returns its summary (metrics.json).
    With ``ckpt_path`` it resumes that run with the run's own settings (its config.yaml) and
    the command line's overrides on top."""
    resume = cfg.get("ckpt_path")
    if resume:  # a run folder resumes from where it stopped: its last checkpoint
        resume = str(resolve_checkpoint(resume, cfg.paths.log_dir, RESUME_FROM))
        cfg = resumed_config(cfg, resume, command_line_overrides())
    show_config(cfg)
    with Run(cfg) as run, checkpoint_notices_once():
        torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "highest"))
        with run.phase("data"):
            datamodule = build_datamodule(cfg.data)
            datamodule.prepare_data()  # reads and validates every file before the model
        model = build(cfg.model, label_names=datamodule.label_names)
        check_max_length(getattr(datamodule, "max_length", None), model.encoder)
        if resume:  # damaged, pickled code, or another model's: one line before fit
            check_resume_checkpoint(resume, model)
        earlier = run_status(run_dir_of(resume)) if resume else None
        run.record_start(datamodule.data_files(), aim_run=(earlier or {}).get("aim_run_hash"))

        callbacks = [*instantiate_group(cfg.get("callbacks")), MetricHistory()]
        if not run.loggers:  # LearningRateMonitor needs a logger
            callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
        trainer: L.Trainer = build(cfg.trainer, callbacks=callbacks, logger=run.loggers or False)

        if cfg.get("train", True):
            with run.phase("fit"):
                trainer.fit(model, datamodule=datamodule, ckpt_path=resume, weights_only=True)
        metrics: dict[str, Any] = {}
        best = best_checkpoint(trainer)
        scored = "best" if best else "final"  # the checkpoint's own Aim context, not an epoch
        # the best checkpoint on validation, then (unless test=false: selection runs) on test
        stages = (trainer.validate, trainer.test) if cfg.get("test", True) else (trainer.validate,)
        with scoring(run.loggers, scored), run.phase("evaluate"):
            for stage in stages:
                result = stage(  # one per-label table at the end, not one per stage
                    model, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False
                )
                metrics.update(result[0] if result else {})
        metrics.update(callback_metrics(trainer))  # base-vs-tuned: base/, improvement/
        summary = run.finish(
            {k: v for k, v in metrics.items() if "/" in k},
            best_checkpoint=best,
            task=model.task.name,
            epochs_trained=trainer.current_epoch,
            global_step=trainer.global_step,
        )
        analyses = any(
            isinstance(c, AfterFitAnalysis) and c.applies_to(model.task) for c in callbacks
        )
        if cfg.get("test", True) and cfg.get("analyses", True) and analyses:
            with scoring(run.loggers, scored), run.phase("analyses"):
                trainer.predict(model, datamodule=datamodule, ckpt_path=best, weights_only=True)
            found = callback_metrics(trainer)  # the analyses': scores at tuned thresholds
            summary = run.add_metrics(summary, {k: v for k, v in found.items() if k not in metrics})
        else:  # no predict run: statistics.json from what the run has
            for callback in callbacks:
                if isinstance(callback, RunStatistics):
                    callback.write(trainer)
        return summary


def callback_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The scores the callbacks add to the run's metrics (their ``run_metrics``)."""
    found: dict[str, float] = {}
    # Trainer.callbacks is set at run time; Lightning's stubs lack it
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        found.update(getattr(callback, "run_metrics", {}))
    return found


def best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
        return callback.best_model_path
    return None


def format_summary(summary: dict[str, Any], output_dir: str, next_block: bool = True) -> str:
    """The final numbers of a run (the per-label scores, then the headline ones) and, with
    ``next_block``, the commands that come next, where a person will see them."""
    metrics = summary.get("metrics", {})
    per_label = per_label_table(metrics)
    lines = ["", *per_label, *([""] if per_label else []), f"{'metric':<16}{'val':>10}{'test':>10}"]
    for name in HEADLINE:
        row = [metrics.get(f"{stage}/{name}") for stage in ("val", "test")]
        if any(value is not None for value in row):
            cells = "".join(f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in row)
            lines.append(f"{name:<16}{cells}")
    lines.append(f"run folder: {output_dir}")
    if summary.get("best_checkpoint"):
        lines.append(f"best checkpoint: {summary['best_checkpoint']}")
    lines.append(f"wall time: {summary.get('wall_time_s', 0):.0f} s{phase_line(summary)}")
    if summary.get("best_checkpoint") and next_block:
        lines += ["", "next:", *(f"  {command}" for command in next_commands(summary, output_dir))]
    return "\n".join(lines)


def phase_line(summary: dict[str, Any]) -> str:
    """`` (data 3 s, fit 181 s, evaluate 9 s, analyses 12 s)``: where the time went."""
    phases = summary.get("phases_s") or {}
    if not phases:
        return ""
    ordered = sorted(phases, key=lambda name: PHASES.index(name) if name in PHASES else 99)
    return " (" + ", ".join(f"{name} {phases[name]:.0f} s" for name in ordered) + ")"


def next_commands(summary: dict[str, Any], output_dir: str | Path) -> list[str]:
    """What to run on a trained run: score it again, export it, serve the export (the last
    two where its task can be exported)."""
    run = Path(output_dir)
    commands = [command_line("src.eval", ckpt_path=run)]
    task = summary.get("task")
    if task is None or output_format(task).export_task is not None:
        commands += [
            command_line("src.export", ckpt_path=run, format="onnx"),
            command_line("src.serve", export_dir=run / "export" / "onnx"),
        ]
    return commands


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns the validation objective (``cfg.objective``) for sweepers such as Optuna."""
    summary = run_job(train, cfg, cfg.paths.output_dir)
    if summary is None:  # a failed sweep job, recorded in its folder
        return math.nan
    if not summary.get("rank"):  # under DDP rank 0 reports the run
        # in a sweep, the sweep's own "next" (the compare command) comes once at its end
        text = format_summary(summary, cfg.paths.output_dir, next_block=not in_sweep())
        print(text, flush=True)
        to_log_file(text)  # train.log ends as the console does
    return summary["metrics"].get(cfg.objective)


if __name__ == "__main__":
    main()
