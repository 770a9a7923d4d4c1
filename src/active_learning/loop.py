"""The pool-based active-learning loop: train, evaluate, query, checkpoint, repeat.

Round 0 trains on ``initial_size`` random pool rows; each of the ``rounds`` acquisition rounds
then adds ``query_size`` rows picked by the strategy from the unlabelled rest. Labels of the
pool are read only for rows already labelled (the strategies see predictions and the labelled
rows' labels, nothing else). Each round ends with a checkpoint (``src.active_learning.rounds``);
``active.resume=true`` continues after the last complete one. The config is read once, by
``src.active_learning.setup``; below the run's lifecycle nothing here reads it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from src.active_learning import rounds
from src.active_learning.model import (
    Weights,
    build_round_model,
    eval_probs,
    evaluate_round,
    fit_round,
    mc_dropout_probs,
)
from src.active_learning.settings import ActiveSettings
from src.active_learning.setup import ActiveSetup, RoundRecipe, read_setup
from src.active_learning.strategies import (
    MC_PROBS,
    NOTHING,
    MonteCarloSettings,
    PoolView,
)
from src.data.batching import TokenizedDataset, padded_loader
from src.errors import TextlabError
from src.models.module import EncoderModule
from src.runs.lifecycle import Run, refusal

log = logging.getLogger(__name__)


# -- the pool --------------------------------------------------------------------------------------
def pool_subset(train_size: int, pool_size: int | None, seed: int) -> np.ndarray:
    """Rows of the training split that form the pool: all, or a seeded subset (sorted)."""
    if pool_size is None or pool_size >= train_size:
        return np.arange(train_size)
    return np.sort(np.random.default_rng(seed).choice(train_size, size=pool_size, replace=False))


class Pool:
    """Positions 0..size-1; a row's labels are revealed only once it is added."""

    def __init__(self, size: int, labelled: np.ndarray | None = None) -> None:
        self.size = int(size)
        self._labelled: list[int] = []
        self._is_labelled = np.zeros(self.size, dtype=bool)
        if labelled is not None:
            self.add(labelled)

    @property
    def labelled(self) -> np.ndarray:
        """Labelled positions in the order they were revealed."""
        return np.asarray(self._labelled, dtype=np.int64)

    def unlabelled(self) -> np.ndarray:
        """Positions not labelled yet, ascending."""
        return np.flatnonzero(~self._is_labelled)

    def add(self, positions: np.ndarray) -> None:
        """Reveal these rows; a repeat or an out-of-range position is a bug, so it raises."""
        positions = np.asarray(positions, dtype=np.int64).ravel()
        if len(np.unique(positions)) != len(positions):
            raise ValueError("the same row was queried twice in one batch")
        if len(positions) and (positions.min() < 0 or positions.max() >= self.size):
            raise ValueError(f"positions outside the pool of {self.size}")
        if self._is_labelled[positions].any():
            raise ValueError("a row that is already labelled was queried again")
        self._is_labelled[positions] = True
        self._labelled.extend(int(p) for p in positions)


# -- the experiment --------------------------------------------------------------------------------
@dataclass
class Experiment:
    """What stays fixed across rounds: the setup read from the config, the pool rows and the
    eval splits."""

    setup: ActiveSetup
    train_split: TokenizedDataset
    pool_rows: np.ndarray  # pool position -> row of the training split
    train_ids: list[str]  # row ids of the training split
    label_names: list[str]
    batch_size: int
    pad_token_id: int
    val: DataLoader
    test: DataLoader

    @property
    def settings(self) -> ActiveSettings:
        return self.setup.settings

    @property
    def recipe(self) -> RoundRecipe:
        return self.setup.recipe


def _prepare(setup: ActiveSetup) -> tuple[Experiment, Any]:
    """Read and tokenise the data once; the pool is (a seeded subset of) the training split."""
    datamodule = setup.make_datamodule()
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    train_split = datamodule.train_dataset
    pool_rows = pool_subset(len(train_split), setup.settings.pool_size, setup.seed)
    setup.settings.check_pool(len(pool_rows))
    pad = int(datamodule.tokenizer.pad_token_id)
    experiment = Experiment(
        setup=setup,
        train_split=train_split,
        pool_rows=pool_rows,
        train_ids=datamodule.train_ids,
        label_names=datamodule.label_names,
        batch_size=datamodule.batch_size,
        pad_token_id=pad,
        val=padded_loader(datamodule.val_dataset, datamodule.eval_batch_size, pad),
        test=padded_loader(datamodule.test_dataset, datamodule.eval_batch_size, pad),
    )
    return experiment, datamodule


def _query(exp: Experiment, model: EncoderModule, pool: Pool, rng) -> np.ndarray:
    """Pool positions of the next ``query_size`` rows to label."""
    candidates = pool.unlabelled()
    labelled_targets = exp.train_split.labels[exp.pool_rows[pool.labelled]]
    view = PoolView(size=len(candidates), labelled_targets=labelled_targets)
    strategy, recipe = exp.setup.strategy, exp.recipe
    if strategy.needs != NOTHING:
        rows = exp.train_split.subset(exp.pool_rows[candidates])
        data = padded_loader(rows, exp.settings.predict_batch_size, exp.pad_token_id)
        if strategy.needs == MC_PROBS:
            assert isinstance(strategy, MonteCarloSettings), f"{strategy.name} sets no mc_passes"
            view.mc_probs = mc_dropout_probs(
                model,
                data,
                strategy.mc_passes,
                strategy.dropout_scope,
                recipe.precision,
                recipe.accelerator,
            )
        else:
            view.probs = eval_probs(model, data, recipe.precision, recipe.accelerator)
    return candidates[strategy.select(view, exp.settings.query_size, rng)]


def _run_round(
    exp: Experiment, round_index: int, pool: Pool, previous: Weights | None, rng, run_dir: Path
) -> tuple[dict[str, Any], np.ndarray, Weights | None]:
    """Train on the labelled rows, score, query, checkpoint; returns metrics, query, weights."""
    settings, recipe = exp.settings, exp.recipe
    started = time.time()
    labelled = pool.labelled
    model = build_round_model(recipe.build_model, exp.label_names, settings, previous)
    fit_round(
        recipe.build_trainer,
        model,
        exp.train_split,
        exp.pool_rows[labelled],
        exp.batch_size,
        exp.pad_token_id,
        prior_bias=settings.prior_bias and settings.fresh_head(round_index),
    )
    trained = time.time()
    scores, thresholds = evaluate_round(
        model,
        exp.val,
        exp.test,
        exp.label_names,
        recipe.thresholds,
        recipe.precision,
        recipe.accelerator,
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
        "seed": exp.setup.seed,
        **scores,
        "labelled/positives_per_row": float((revealed == 1).sum(axis=1).mean()),
        "train_seconds": round(trained - started, 2),
        "eval_seconds": round(evaluated - trained, 2),
        "query_seconds": round(time.time() - evaluated, 2),
    }
    weights = None
    if settings.keeps_weights:
        weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    rounds.save_round(
        run_dir,
        round_index,
        labelled,
        queried,
        metrics,
        rounds.capture_rng(rng),
        weights,
        extra_json={"thresholds.json": thresholds},
    )
    return metrics, queried, weights


def _check_folder(setup: ActiveSetup) -> bool:
    """Before anything is written into ``run_dir``: a new run needs a folder without rounds;
    a resume needs the run's manifest and its own settings. A refusal leaves the folder as it
    was (nothing recorded there). Returns whether the folder has the run's config.yaml."""
    run_dir = setup.run_dir
    try:
        if not setup.settings.resume:
            if rounds.completed_rounds(run_dir):
                raise TextlabError(
                    f"{run_dir} already holds rounds; pass active.resume=true to continue it, "
                    "or use a new folder"
                )
            return False
        rounds.read_manifest(run_dir)
        return rounds.check_resume_settings(setup.config, run_dir)
    except TextlabError as err:
        raise refusal(str(err)) from None


def run_active(cfg: DictConfig) -> dict[str, Any]:
    """Run (or resume) one active-learning simulation; returns the run's summary
    (metrics.json: status ``finished`` or ``paused``, the last round's metrics)."""
    setup = read_setup(cfg)
    settings, run_dir = setup.settings, setup.run_dir
    has_config = _check_folder(setup)
    # checks the accelerator, seeds every generator; refuses a folder of another finished run
    with Run(cfg, run_dir, continues=settings.resume) as run:
        exp, datamodule = _prepare(setup)
        # a resume keeps the run's config.yaml and run_info.json as its first process wrote them
        run.record_start(datamodule.data_files(), loggers=False, record=not has_config)
        pool_ids = [exp.train_ids[i] for i in exp.pool_rows]
        manifest = rounds.new_manifest(settings, setup.seed, pool_ids, setup.data_target)
        begun = rounds.start(settings, run_dir, manifest, setup.seed, setup.tracking, run.info)
        if begun.aim.logger is not None:
            run.loggers.append(begun.aim.logger)  # closed with the run; its hash to metrics.json
        pool, rng, previous = Pool(len(pool_ids), begun.labelled), begun.rng, begun.weights
        metrics = begun.metrics
        status = "finished"
        for trained_here, round_index in enumerate(range(begun.first_round, settings.rounds + 1)):
            if trained_here == settings.max_rounds_this_process:
                status = "paused"
                break
            metrics, queried, previous = _run_round(exp, round_index, pool, previous, rng, run_dir)
            if settings.keep_weights == "last":
                rounds.drop_old_weights(run_dir, round_index)
            rounds.write_rounds_csv(run_dir)
            begun.aim.track_round(metrics)
            log.info(
                "round %d: %d labelled, test f1_micro tuned %.4f, auc %.4f",
                round_index,
                metrics["num_labelled"],
                metrics["test/f1_micro_tuned"],
                metrics["test/auc_macro"],
            )
            pool.add(queried)
        return run.finish(
            metrics,
            status=status,
            rounds_done=len(rounds.completed_rounds(run_dir)),
            num_labelled=len(pool.labelled),
        )
