"""The pool-based active-learning loop: train, evaluate, query, checkpoint, repeat.

Round 0 trains on ``initial_size`` random pool rows; each of the ``rounds`` acquisition rounds
then adds ``query_size`` rows picked by the strategy from the unlabelled rest. Labels of the
pool are read only for rows already labelled (the strategies see predictions and the labelled
rows' labels, nothing else). Each round ends with a checkpoint (see
``src.active.checkpoints``); ``active.resume=true`` continues after the last complete one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from src.active import checkpoints as ckpt
from src.active.evaluate import evaluate_round
from src.active.manifest import check_same_run, new_manifest, read_manifest, write_manifest
from src.active.pool import Pool, pool_subset
from src.active.predict import eval_probs, loader, mc_dropout_probs, subset
from src.active.round_model import build_round_model, fit_round
from src.active.settings import ActiveSettings, build_strategy
from src.active.strategies.base import PoolView, Strategy
from src.active.tracking import AimRounds, write_rounds_csv
from src.callbacks.prior_bias import sequence_task, set_prior_bias
from src.data.collate import TokenizedDataset
from src.pipeline.run_folder import write_json, write_resolved_config
from src.utils.accelerator import check_accelerator
from src.utils.errors import TextlabError
from src.utils.instantiate import build_datamodule
from src.utils.run_info import run_info

log = logging.getLogger(__name__)


@dataclass
class Experiment:
    """What stays fixed across rounds: config, strategy, the pool rows and the eval splits."""

    cfg: DictConfig
    settings: ActiveSettings
    strategy: Strategy
    train_split: TokenizedDataset
    pool_rows: np.ndarray  # pool position -> row of the training split
    label_names: list[str]
    batch_size: int
    pad_token_id: int
    val: DataLoader
    test: DataLoader

    @property
    def precision(self) -> str:
        return str(self.cfg.trainer.precision)

    @property
    def accelerator(self) -> str:
        return str(self.cfg.trainer.accelerator)


def _prepare(
    cfg: DictConfig, settings: ActiveSettings, strategy: Strategy
) -> tuple[Experiment, Any]:
    """Read and tokenise the data once; the pool is (a seeded subset of) the training split."""
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    train_split = datamodule.train_dataset
    pool_rows = pool_subset(len(train_split), settings.pool_size, cfg.seed)
    settings.check_pool(len(pool_rows))
    pad = int(datamodule.tokenizer.pad_token_id)
    experiment = Experiment(
        cfg=cfg,
        settings=settings,
        strategy=strategy,
        train_split=train_split,
        pool_rows=pool_rows,
        label_names=datamodule.label_names,
        batch_size=datamodule.batch_size,
        pad_token_id=pad,
        val=loader(datamodule.val_dataset, datamodule.eval_batch_size, pad),
        test=loader(datamodule.test_dataset, datamodule.eval_batch_size, pad),
    )
    return experiment, datamodule


def _query(exp: Experiment, model: L.LightningModule, pool: Pool, rng) -> np.ndarray:
    """Pool positions of the next ``query_size`` rows to label."""
    candidates = pool.unlabelled()
    labelled_targets = exp.train_split.labels[exp.pool_rows[pool.labelled]]
    view = PoolView(size=len(candidates), labelled_targets=labelled_targets)
    strategy = exp.strategy
    if strategy.needs != "nothing":
        rows = subset(exp.train_split, exp.pool_rows[candidates])
        data = loader(rows, exp.settings.predict_batch_size, exp.pad_token_id)
        if strategy.needs == "mc_probs":
            view.mc_probs = mc_dropout_probs(
                model,
                data,
                strategy.mc_passes,
                strategy.dropout_scope,
                exp.precision,
                exp.accelerator,
            )
        else:
            view.probs = eval_probs(model, data, exp.precision, exp.accelerator)
    return candidates[strategy.select(view, exp.settings.query_size, rng)]


def _initial_pool(size: int, settings: ActiveSettings, seed: int):
    rng = np.random.default_rng(seed)
    return Pool(size, rng.choice(size, size=settings.initial_size, replace=False)), rng


def _start(
    settings: ActiveSettings, run_dir: Path, manifest: dict[str, Any], seed: int
) -> tuple[Pool, np.random.Generator, int, dict | None, dict[str, Any]]:
    """A new run (random initial set) or the state after the last complete round."""
    size = len(manifest["pool_ids"])
    if not settings.resume:
        if ckpt.completed_rounds(run_dir):
            raise TextlabError(
                f"{run_dir} already holds rounds; pass active.resume=true to continue it, "
                "or use a new folder"
            )
        write_manifest(run_dir, manifest)
        return *_initial_pool(size, settings, seed), 0, None, manifest
    saved = read_manifest(run_dir)
    check_same_run(saved, manifest, run_dir)
    ckpt.clear_partial(run_dir)  # the round in progress when the run stopped is redone
    done = ckpt.completed_rounds(run_dir)
    if not done:  # stopped during round 0: start it again
        return *_initial_pool(size, settings, seed), 0, None, saved
    last = done[-1]
    rng = ckpt.restore_rng(ckpt.load_rng(last))
    pool = Pool(size, np.concatenate([last.labelled, last.queried]))
    weights = None
    if settings.keeps_weights and last.weights is not None:
        weights = torch.load(last.weights, map_location="cpu", weights_only=True)
    log.info("resuming %s after round %d (%d labelled)", run_dir, last.round, len(pool.labelled))
    return pool, rng, last.round + 1, weights, saved


def _run_round(
    exp: Experiment, round_index: int, pool: Pool, previous: dict | None, rng, run_dir: Path
) -> tuple[dict[str, Any], np.ndarray, dict | None]:
    """Train on the labelled rows, score, query, checkpoint; returns metrics, query, weights."""
    cfg, settings = exp.cfg, exp.settings
    started = time.time()
    labelled = pool.labelled
    model = build_round_model(cfg, exp.label_names, settings, previous)
    rows = exp.pool_rows[labelled]
    if settings.prior_bias and settings.fresh_head(round_index):
        task = sequence_task(model, "active.prior_bias")
        set_prior_bias(model, exp.train_split.labels[rows], task)
    fit_round(cfg, model, exp.train_split, rows, exp.batch_size, exp.pad_token_id)
    trained = time.time()
    scores, thresholds = evaluate_round(
        model,
        exp.val,
        exp.test,
        exp.label_names,
        cfg.evaluation.threshold_metric,
        cfg.evaluation.default_threshold,
        exp.precision,
        exp.accelerator,
    )
    evaluated = time.time()
    queried = np.empty(0, dtype=np.int64)
    if round_index < settings.rounds:
        queried = _query(exp, model, pool, rng)
    revealed = exp.train_split.labels[exp.pool_rows[labelled]]
    metrics = {
        "round": round_index,
        "num_labelled": len(labelled),
        "strategy": settings.strategy,
        "seed": cfg.seed,
        **scores,
        "labelled/positives_per_row": float((revealed == 1).sum(axis=1).mean()),
        "train_seconds": round(trained - started, 2),
        "eval_seconds": round(evaluated - trained, 2),
        "query_seconds": round(time.time() - evaluated, 2),
    }
    weights = None
    if settings.keeps_weights:
        weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    ckpt.save_round(
        run_dir,
        round_index,
        labelled,
        queried,
        metrics,
        ckpt.capture_rng(rng),
        weights,
        extra_json={"thresholds.json": thresholds},
    )
    return metrics, queried, weights


def run_active(cfg: DictConfig) -> dict[str, Any]:
    """Run (or resume) one active-learning simulation; returns the last round's metrics."""
    settings = ActiveSettings.from_cfg(cfg.active)
    strategy = build_strategy(cfg.active)
    check_accelerator(cfg.trainer)
    run_dir = Path(settings.run_dir or cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    exp, datamodule = _prepare(cfg, settings, strategy)

    pool_ids = [datamodule.train_ids[i] for i in exp.pool_rows]
    manifest = new_manifest(settings, cfg.seed, pool_ids, str(cfg.data._target_))
    pool, rng, first_round, previous, manifest = _start(settings, run_dir, manifest, cfg.seed)
    write_resolved_config(cfg, run_dir)
    info = run_info(cfg.seed, datamodule.data_files(), cfg.paths.root_dir)
    write_json(run_dir / "run_info.json", info)
    aim = AimRounds(cfg, manifest.get("aim_run_hash"), info)
    if aim.hash and manifest.get("aim_run_hash") != aim.hash:
        manifest["aim_run_hash"] = aim.hash
        write_manifest(run_dir, manifest)

    done = ckpt.completed_rounds(run_dir)
    metrics: dict[str, Any] = done[-1].metrics if done else {}
    status = "finished"
    try:
        for trained_here, round_index in enumerate(range(first_round, settings.rounds + 1)):
            if trained_here == settings.max_rounds_this_process:
                status = "paused"
                break
            metrics, queried, previous = _run_round(exp, round_index, pool, previous, rng, run_dir)
            if settings.keep_weights == "last":
                ckpt.drop_old_weights(run_dir, round_index)
            write_rounds_csv(run_dir)
            aim.track_round(metrics)
            log.info(
                "round %d: %d labelled, test f1_micro tuned %.4f, auc %.4f",
                round_index,
                metrics["num_labelled"],
                metrics["test/f1_micro_tuned"],
                metrics["test/auc_macro"],
            )
            pool.add(queried)
    finally:
        aim.close()
    summary = {
        "status": status,
        "rounds_done": len(ckpt.completed_rounds(run_dir)),
        "num_labelled": len(pool.labelled),
        "metrics": metrics,
        "aim_run_hash": aim.hash,
    }
    write_json(run_dir / "metrics.json", summary)
    return summary
