"""Fit, evaluate the best checkpoint, and record the run: what `python -m src.train` does."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from src.pipeline.aim_artifacts import log_analysis_to_aim
from src.pipeline.base_vs_tuned import evaluate_base, improvements
from src.pipeline.checkpoint_names import check_top_k, link_best
from src.pipeline.metric_history import MetricHistory
from src.pipeline.multiclass_analysis import analyse_multiclass, log_multiclass_to_aim
from src.pipeline.post_training import analyse_best_checkpoint, check_evaluation_settings
from src.pipeline.results_csv import record_result
from src.pipeline.run_folder import scalar_metrics, write_json, write_resolved_config
from src.pipeline.statistics import write_statistics
from src.pipeline.task_check import check_model_fits_data
from src.utils.accelerator import check_accelerator
from src.utils.aim_repo import aim_repos_in, ensure_aim_repo
from src.utils.errors import TextlabError
from src.utils.instantiate import build, build_datamodule, instantiate_group
from src.utils.run_info import run_info

log = logging.getLogger(__name__)


def _checkpoint_to_resume(ckpt_path: str | None) -> str | None:
    if ckpt_path and not Path(ckpt_path).is_file():
        raise TextlabError(
            f"checkpoint not found: {ckpt_path}; pass ckpt_path=<run>/checkpoints/last.ckpt "
            "of an existing run, or drop ckpt_path to start fresh"
        )
    return ckpt_path


def _best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
        return callback.best_model_path
    return None


def without_logger_callbacks(callbacks: list, loggers: list) -> list:
    """``logger=none`` keeps the default callbacks working: LearningRateMonitor needs a logger."""
    if loggers:
        return callbacks
    return [c for c in callbacks if not isinstance(c, LearningRateMonitor)]


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job from a composed config and return its final metrics.

    Success or failure, the run appends one row to ``cfg.results_file`` (rank 0 only).
    """
    try:
        summary = _train(cfg)
    except Exception as error:
        if rank_zero_only.rank == 0:
            record_result(cfg, error=error)
        raise
    if "rank" not in summary:  # DDP: the other ranks return a partial summary
        record_result(cfg, summary)
    return summary


def _train(cfg: DictConfig) -> dict[str, Any]:
    started = time.time()
    check_accelerator(cfg.trainer)
    ckpt_path = _checkpoint_to_resume(cfg.get("ckpt_path"))
    evaluation = cfg.get("evaluation") or {}
    if evaluation.get("enabled", False):
        check_evaluation_settings(evaluation)
    L.seed_everything(cfg.seed, workers=True)

    check_model_fits_data(cfg)
    log.info("data: %s", cfg.data._target_)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()  # reads + validates every file before the model is built

    log.info("model: %s over backbone %s", cfg.model._target_, cfg.backbone.name)
    model = build(cfg.model, label_names=datamodule.label_names)

    for repo in aim_repos_in(cfg.get("logger")):
        ensure_aim_repo(repo)
    loggers = instantiate_group(cfg.get("logger"))
    history = MetricHistory()  # loss/metric curves for the plots, whatever the logger
    callbacks = [
        *without_logger_callbacks(instantiate_group(cfg.get("callbacks")), loggers),
        history,
    ]
    check_top_k(callbacks)
    trainer: L.Trainer = build(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    output_dir = Path(cfg.paths.output_dir)
    info = run_info(cfg.seed, datamodule.data_files(), cfg.paths.root_dir)
    if trainer.is_global_zero:  # DDP: every rank runs this function; only rank 0 writes files
        write_resolved_config(cfg, output_dir)
        write_json(output_dir / "run_info.json", info)
    for logger in loggers:
        logger.log_hyperparams({"config": OmegaConf.to_container(cfg, resolve=True), "run": info})

    base: dict[str, float] = {}  # base-vs-tuned: the untrained head on test, before fit
    if cfg.get("evaluate_base", False):
        base = evaluate_base(cfg, model, datamodule)
        for logger in loggers:
            logger.log_metrics(base, step=0)

    if cfg.get("train", True):
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path)
        if trainer.is_global_zero:
            link_best(_best_checkpoint(trainer))  # top-k: best.ckpt -> the best of them

    metrics: dict[str, Any] = {}
    if cfg.get("test", True):
        best = _best_checkpoint(trainer)
        val = trainer.validate(model=model, datamodule=datamodule, ckpt_path=best, verbose=False)
        test = trainer.test(model=model, datamodule=datamodule, ckpt_path=best, verbose=False)
        metrics = {**val[0], **test[0]}
        metrics = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}
    if base:
        gains = improvements(metrics, base)
        metrics.update({**base, **gains})
        for logger in loggers:
            logger.log_metrics(gains, step=trainer.global_step)
    if not trainer.is_global_zero:  # DDP: metrics are synced; rank 0 records and analyses
        return {
            "status": "success",
            "metrics": scalar_metrics(metrics),
            "rank": trainer.global_rank,
        }

    summary = {
        "status": "success",
        "metrics": scalar_metrics(metrics),
        "best_checkpoint": _best_checkpoint(trainer),
        "epochs_trained": trainer.current_epoch,
        "global_step": trainer.global_step,
        "wall_time_s": round(time.time() - started, 1),
        "aim_run_hash": next(
            (lg.version for lg in loggers if type(lg).__name__ == "AimLogger"), None
        ),
    }
    write_json(output_dir / "metrics.json", summary)

    # multilabel: thresholds tuned on val, test at 0.5 and tuned, calibration, plots;
    # multiclass: confusion matrix; token tasks: their module logs everything
    analysis = confusion = None
    task = getattr(model, "task", "multilabel")
    if cfg.get("test", True) and evaluation.get("enabled", False):
        best = _best_checkpoint(trainer)
        if task == "multilabel":
            analysis = analyse_best_checkpoint(
                cfg, best, model, datamodule, history.as_dict(), output_dir
            )
        elif task == "multiclass":
            confusion = analyse_multiclass(cfg, best, model, datamodule, output_dir)
    extra = {"evaluation": confusion.to_json()} if confusion is not None else None
    write_statistics(output_dir, cfg, info, summary, analysis, history.as_dict(), extra)
    log_analysis_to_aim(loggers, analysis)
    log_multiclass_to_aim(loggers, confusion)
    for logger in loggers:
        getattr(logger, "close", logger.finalize)("success")  # Aim: write the run out for good
    return summary
