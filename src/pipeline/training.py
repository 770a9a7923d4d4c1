"""Fit, evaluate the best checkpoint, and record the run: what `python -m src.train` does."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as L
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from src.pipeline.aim_artifacts import log_analysis_to_aim
from src.pipeline.metric_history import MetricHistory
from src.pipeline.post_training import analyse_best_checkpoint, check_evaluation_settings
from src.pipeline.run_folder import scalar_metrics, write_json, write_resolved_config
from src.pipeline.statistics import write_statistics
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


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job from a composed config and return its final metrics."""
    started = time.time()
    check_accelerator(cfg.trainer)
    ckpt_path = _checkpoint_to_resume(cfg.get("ckpt_path"))
    evaluation = cfg.get("evaluation") or {}
    if evaluation.get("enabled", False):
        check_evaluation_settings(evaluation)
    L.seed_everything(cfg.seed, workers=True)

    log.info("data: %s", cfg.data._target_)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()  # reads + validates every file before the model is built

    log.info("model: %s over backbone %s", cfg.model.pooling, cfg.backbone.name)
    model = build(cfg.model, label_names=datamodule.label_names)

    for repo in aim_repos_in(cfg.get("logger")):
        ensure_aim_repo(repo)
    loggers = instantiate_group(cfg.get("logger"))
    history = MetricHistory()  # loss/metric curves for the plots, whatever the logger
    callbacks = [*instantiate_group(cfg.get("callbacks")), history]
    trainer: L.Trainer = build(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    output_dir = Path(cfg.paths.output_dir)
    write_resolved_config(cfg, output_dir)
    info = run_info(cfg.seed, datamodule.data_files(), cfg.paths.root_dir)
    write_json(output_dir / "run_info.json", info)
    for logger in loggers:
        logger.log_hyperparams({"config": OmegaConf.to_container(cfg, resolve=True), "run": info})

    if cfg.get("train", True):
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path)

    metrics: dict[str, Any] = {}
    if cfg.get("test", True):
        best = _best_checkpoint(trainer)
        val = trainer.validate(model=model, datamodule=datamodule, ckpt_path=best, verbose=False)
        test = trainer.test(model=model, datamodule=datamodule, ckpt_path=best, verbose=False)
        metrics = {**val[0], **test[0]}
        metrics = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}

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

    analysis = None  # thresholds tuned on val, test at 0.5 and tuned, calibration, plots
    if cfg.get("test", True) and evaluation.get("enabled", False):
        analysis = analyse_best_checkpoint(
            cfg, _best_checkpoint(trainer), model, datamodule, history.as_dict(), output_dir
        )
    write_statistics(output_dir, cfg, info, summary, analysis, history.as_dict())
    log_analysis_to_aim(loggers, analysis)
    for logger in loggers:
        getattr(logger, "close", logger.finalize)("success")  # Aim: write the run out for good
    return summary
