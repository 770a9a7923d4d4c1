"""The active-learning loop end to end on a tiny model: pool bookkeeping, checkpoints, resume."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch import Trainer

from aim import Repo
from src.active_learning import loop
from src.active_learning.loop import Pool, run_active
from src.active_learning.rounds import completed_rounds
from src.active_learning.setup import read_setup
from src.errors import TextlabError
from tests.conftest import run_module

TINY_ACTIVE = [
    "backbone=tiny_bert",
    "data=jigsaw_sample",
    "data.max_train_rows=160",
    "data.max_test_rows=60",
    "data.max_length=24",
    "data.batch_size=16",
    "trainer=debug",
    "logger=csv",
    "active.initial_size=16",
    "active.query_size=8",
    "active.pool_size=100",
    "active.predict_batch_size=64",
]


@pytest.fixture
def active_cfg(make_cfg):
    def make(*overrides: str, run_dir: Path):
        return make_cfg(*TINY_ACTIVE, *overrides, name="active", tiny=False, run_dir=run_dir)

    return make


def labelled_sets(run_dir: Path) -> list[list[int]]:
    return [c.labelled.tolist() for c in completed_rounds(run_dir)]


def test_pool_never_reveals_a_row_twice() -> None:
    pool = Pool(10, np.array([3, 1]))
    assert pool.unlabelled().tolist() == [0, 2, 4, 5, 6, 7, 8, 9]
    pool.add(np.array([0, 9]))
    assert pool.labelled.tolist() == [3, 1, 0, 9] and len(pool.unlabelled()) == 6
    with pytest.raises(ValueError, match="already labelled"):
        pool.add(np.array([1]))
    with pytest.raises(ValueError, match="twice"):
        pool.add(np.array([2, 2]))


def test_every_strategy_config_builds(make_cfg, tmp_path: Path) -> None:
    for name in ("random", "entropy", "bald", "cvirs", "cardinality"):
        cfg = make_cfg(f"active.strategy={name}", name="active", tiny=False)
        setup = read_setup(cfg)
        assert setup.strategy.name == name and setup.settings.strategy == name


def test_bad_settings_are_one_line_errors(make_cfg) -> None:
    cfg = make_cfg("active.strategy=margin", name="active", tiny=False)
    with pytest.raises(TextlabError, match="active.strategy='margin' is unknown; use one of"):
        read_setup(cfg)
    cfg = make_cfg("active.start=lukewarm", name="active", tiny=False)
    with pytest.raises(TextlabError, match="active.start must be one of cold, warm"):
        read_setup(cfg)
    cfg = make_cfg("active.strategy=bald", "active.mc_passes=1", name="active", tiny=False)
    with pytest.raises(TextlabError, match="active.strategies.bald: active.mc_passes"):
        read_setup(cfg)
    cfg = make_cfg("thresholds.metric=f-one", name="active", tiny=False)
    with pytest.raises(TextlabError, match="thresholds.metric must be f1, f2, .*, got 'f-one'"):
        read_setup(cfg)
    cfg = make_cfg("data=emotion", name="active", tiny=False)  # refused before any data is read
    with pytest.raises(TextlabError, match="needs a multi-label data set.*multiclass task"):
        read_setup(cfg)


def test_two_round_loop_writes_rounds_and_checkpoints(active_cfg, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = active_cfg("active.strategy=cvirs", "active.rounds=1", "logger=aim", run_dir=run)
    summary = run_active(cfg)
    assert summary["status"] == "finished" and summary["num_labelled"] == 24
    table = pd.read_csv(run / "rounds.csv")
    assert table["round"].tolist() == [0, 1] and table["num_labelled"].tolist() == [16, 24]
    for column in ("test/f1_micro", "test/f1_micro_tuned", "test/f1_macro_tuned", "test/auc_macro"):
        assert table[column].between(0, 1).all()
    rounds = completed_rounds(run)
    assert [c.round for c in rounds] == [0, 1]
    first, second = rounds
    # the query is new rows only, exactly query_size of them, and becomes the next labelled set
    assert len(first.queried) == 8 and not set(first.queried) & set(first.labelled)
    assert second.labelled.tolist() == [*first.labelled, *first.queried]
    assert len(second.queried) == 0  # the last round queries nothing
    for name in (
        "labelled.npy",
        "queried.npy",
        "metrics.json",
        "rng_state.json",
        "thresholds.json",
    ):
        assert (first.folder / name).is_file()
    assert not list(run.rglob("*.pkl"))  # nothing that a resume would have to unpickle
    rng_state = json.loads((first.folder / "rng_state.json").read_text())
    assert sorted(rng_state) == ["numpy", "python", "query", "torch"]
    assert rng_state["query"]["bit_generator"] == "PCG64"
    assert first.weights is None  # cold start from the pretrained model keeps no weights
    manifest = json.loads((run / "active_run.json").read_text())
    assert manifest["strategy"] == "cvirs" and len(manifest["pool_ids"]) == 100
    # Aim: one run, step = round, num_labelled tracked alongside
    aim = Path(sys.executable).parent / "aim"
    subprocess.run([aim, "storage", "--repo", cfg.paths.aim_repo, "reindex", "-y"], check=True)
    (aim_run,) = list(Repo(cfg.paths.aim_repo).iter_runs())
    assert aim_run.hash == summary["aim_run_hash"] == manifest["aim_run_hash"]
    tracked = {(m.name, tuple(sorted(m.context.to_dict().items()))): m for m in aim_run.metrics()}
    tuned = tracked[("f1_micro", (("subset", "test"), ("thresholds", "tuned")))]
    assert sorted(tuned.values.values_numpy().tolist()) == pytest.approx(
        sorted(table["test/f1_micro_tuned"].tolist())
    )
    labelled = tracked[("num_labelled", ())].values.values_numpy().tolist()
    assert sorted(labelled) == [16, 24]


COMMON = ("active.strategy=entropy", "active.start=warm", "active.rounds=2")


def assert_same_run(run: Path, reference: Path) -> None:
    expected = labelled_sets(reference)
    # the labelled set grows by exactly query_size per round, never repeating a row
    assert [len(set(rows)) for rows in expected] == [len(rows) for rows in expected] == [16, 24, 32]
    assert labelled_sets(run) == expected
    ours, theirs = pd.read_csv(run / "rounds.csv"), pd.read_csv(reference / "rounds.csv")
    for column in ("test/auc_macro", "test/f1_micro_tuned"):
        assert ours[column].tolist() == pytest.approx(theirs[column].tolist())


def test_resume_reproduces_the_uninterrupted_run(active_cfg, tmp_path: Path) -> None:
    """Warm start + entropy: the labelled sets depend on trained weights and every RNG."""
    whole = tmp_path / "whole"
    run_active(active_cfg(*COMMON, run_dir=whole))
    # keep_weights=last: only the newest round holds model weights
    assert [c.weights is not None for c in completed_rounds(whole)] == [False, False, True]

    paused = tmp_path / "paused"  # stops cleanly after round 0 (max_rounds_this_process=1)
    cfg = active_cfg(*COMMON, "active.max_rounds_this_process=1", run_dir=paused)
    assert run_active(cfg)["status"] == "paused"
    assert len(completed_rounds(paused)) == 1
    run_active(active_cfg(*COMMON, "active.resume=true", run_dir=paused))
    assert_same_run(paused, whole)


@pytest.mark.slow
def test_resume_after_a_crash_mid_round(active_cfg, tmp_path: Path, monkeypatch) -> None:
    """Killed during round 1's evaluation: round 1 is lost and redone, nothing else."""
    whole = tmp_path / "whole"
    run_active(active_cfg(*COMMON, run_dir=whole))
    crashed = tmp_path / "crashed"
    real_evaluate = loop.evaluate_round
    calls = {"n": 0}

    def dies_in_round_1(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(loop, "evaluate_round", dies_in_round_1)
    with pytest.raises(KeyboardInterrupt):
        run_active(active_cfg(*COMMON, run_dir=crashed))
    monkeypatch.setattr(loop, "evaluate_round", real_evaluate)
    assert [c.round for c in completed_rounds(crashed)] == [0]
    run_active(active_cfg(*COMMON, "active.resume=true", run_dir=crashed))
    assert_same_run(crashed, whole)


class CreatesFileWhenUnpickled:
    """A crafted pickle: loading it opens (creates) ``path``, as any code could run instead."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_resume_never_runs_code_from_a_round_folder(active_cfg, tmp_path: Path) -> None:
    """rng_state.pkl is never unpickled; a changed rng_state.json or a model.pt that is not a
    plain state dict is refused in one line before it can run anything."""
    overrides = ("active.strategy=random", "active.start=warm", "active.rounds=1")
    run = tmp_path / "run"
    run_active(active_cfg(*overrides, "active.max_rounds_this_process=1", run_dir=run))
    (round_0,) = completed_rounds(run)
    marker = tmp_path / "code_ran"
    payload = pickle.dumps(CreatesFileWhenUnpickled(marker))
    pickle.loads(pickle.dumps(CreatesFileWhenUnpickled(tmp_path / "proof"))).close()
    assert (tmp_path / "proof").is_file()  # the payload is live: unpickling it runs code

    def resume() -> dict:
        return run_active(active_cfg(*overrides, "active.resume=true", run_dir=run))

    rng_json = round_0.folder / "rng_state.json"
    saved_state = rng_json.read_text()
    (round_0.folder / "rng_state.pkl").write_bytes(payload)
    rng_json.unlink()  # only the pickle is left
    with pytest.raises(TextlabError, match=r"no rng_state.json \(it holds rng_state.pkl, which is"):
        resume()
    tampered = json.loads(saved_state)
    tampered["query"]["bit_generator"] = "os.system"
    rng_json.write_text(json.dumps(tampered))
    with pytest.raises(TextlabError, match="not a random-number state.*query: not a PCG64 state"):
        resume()
    rng_json.write_text(saved_state)
    weights = round_0.folder / "model.pt"
    saved_weights = weights.read_bytes()
    torch.save({"head.bias": CreatesFileWhenUnpickled(marker)}, weights)
    with pytest.raises(TextlabError, match="model.pt: not a plain state dict"):
        resume()
    weights.write_bytes(saved_weights)
    assert not marker.exists()
    assert resume()["status"] == "finished"  # the pickle is still there, and still unread
    assert [c.round for c in completed_rounds(run)] == [0, 1] and not marker.exists()


def test_resume_refuses_a_different_or_missing_run(active_cfg, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_active(active_cfg("active.rounds=0", run_dir=run))
    with pytest.raises(TextlabError, match="already holds rounds; pass active.resume=true"):
        run_active(active_cfg("active.rounds=0", run_dir=run))
    with pytest.raises(TextlabError, match="active.strategy='random' in the run, 'entropy' now"):
        run_active(active_cfg("active.strategy=entropy", "active.resume=true", run_dir=run))
    with pytest.raises(TextlabError, match="nothing to resume in"):
        run_active(active_cfg("active.resume=true", run_dir=tmp_path / "empty"))
    with pytest.raises(TextlabError, match="but the pool has only 100"):
        run_active(active_cfg("active.rounds=20", run_dir=tmp_path / "big"))


def test_cli_unknown_strategy_is_one_line(tmp_path: Path) -> None:
    result = run_module("src.active", "active.strategy=margin", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: active.strategy='margin' is unknown")


def test_mc_dropout_is_on_only_while_querying(make_cfg) -> None:
    import torch

    from src.active_learning.model import eval_probs, mc_dropout_probs
    from src.config import build
    from src.data.batching import TokenizedDataset, padded_loader

    cfg = make_cfg(*TINY_ACTIVE, "model.dropout=0.5", name="active", tiny=False)
    torch.manual_seed(0)
    model = build(cfg.model, label_names=["a", "b"])
    rows = TokenizedDataset([[101, 7, 8, 102], [101, 9, 102]], np.zeros((2, 2)))
    data = padded_loader(rows, 2, 0)
    plain = eval_probs(model, data, "32-true", "cpu")
    assert np.array_equal(plain, eval_probs(model, data, "32-true", "cpu"))  # dropout off
    for scope in ("model", "head"):
        mc = mc_dropout_probs(model, data, 4, scope, "32-true", "cpu")
        assert mc.shape == (4, 2, 2)
        assert not np.allclose(mc[0], mc[1])  # the passes differ: dropout is on
    assert np.array_equal(plain, eval_probs(model, data, "32-true", "cpu"))  # and off again


def test_prior_bias_sets_each_fresh_head_to_the_labelled_priors(
    active_cfg, tmp_path: Path, monkeypatch
) -> None:
    from src.tasks.multilabel.task import prior_log_odds

    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def record_bias(trainer, model, train_dataloaders) -> None:
        """Stands in for training: the bias it starts from, then a move away from it."""
        bias = model.output_layer().bias.detach().numpy().copy()
        seen.append((bias, train_dataloaders.dataset.labels))
        with torch.no_grad():
            model.output_layer().bias.add_(1.0)

    monkeypatch.setattr(Trainer, "fit", record_bias)
    for start in ("cold", "warm"):
        seen.clear()
        overrides = ("active.rounds=1", "active.prior_bias=true", f"active.start={start}")
        run_active(active_cfg(*overrides, run_dir=tmp_path / start))
        assert len(seen) == 2
        for round_index, (bias, labels) in enumerate(seen):
            expected = prior_log_odds(labels)
            if start == "warm" and round_index == 1:  # continues from round 0's trained bias
                expected = seen[0][0] + 1.0
            np.testing.assert_allclose(bias, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(TextlabError, match="active.prior_bias must be true or false"):
        read_setup(active_cfg("active.prior_bias=maybe", run_dir=tmp_path))
