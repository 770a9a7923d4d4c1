"""End to end: tiny BERT and DistilBERT, both poolers, train -> test, resume, Aim read-back."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
import torch

from src.errors import TextlabError
from src.train import train
from tests.conftest import run_module


@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_distilbert"])
@pytest.mark.parametrize("model", ["cls_pooler", "avg_pooler"])
def test_train_end_to_end(make_cfg, tmp_path: Path, backbone: str, model: str) -> None:
    cfg = make_cfg(f"backbone={backbone}", f"model={model}", "trainer.max_epochs=1")
    summary = train(cfg)
    metrics = summary["metrics"]
    for stage in ("val", "test"):
        for key in ("auc_macro", "f1_macro", "f1_micro", "auc/toxic", "f1/toxic", "loss"):
            assert f"{stage}/{key}" in metrics
        assert 0.0 <= metrics[f"{stage}/auc_macro"] <= 1.0
    run = tmp_path / "run"
    assert (run / "checkpoints" / "best.ckpt").is_file()
    assert (run / "config.yaml").is_file()
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["metrics"]["test/auc_macro"] == pytest.approx(metrics["test/auc_macro"])
    info = json.loads((run / "run_info.json").read_text())
    assert info["seed"] == 42 and info["packages"]["torch"].startswith("2.13")
    assert any(path.endswith("train.csv.gz") for path in info["data_files"])


def test_training_learns_on_real_rows(make_cfg) -> None:
    """A few epochs of the tiny model must beat chance on the shipped Jigsaw rows."""
    cfg = make_cfg(
        "data.max_train_rows=null",
        "data.max_test_rows=null",
        "trainer.max_epochs=4",
        "model.optimizer.lr=2e-3",
        "data.max_length=64",
    )
    summary = train(cfg)
    assert summary["metrics"]["test/auc_macro"] > 0.6


def test_resume_continues_from_last_checkpoint(make_cfg, tmp_path: Path) -> None:
    first = make_cfg("trainer.max_epochs=1", run_dir=tmp_path / "first")
    train(first)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    resumed = make_cfg("trainer.max_epochs=2", f"ckpt_path={last}", run_dir=tmp_path / "second")
    summary = train(resumed)
    assert summary["epochs_trained"] == 2
    steps_per_epoch = torch.load(last, weights_only=False)["global_step"]
    assert summary["global_step"] == 2 * steps_per_epoch
    earlier = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert earlier["status"] == "success" and earlier["resumed_by"] == str(tmp_path / "second")


def test_resuming_a_run_folder_takes_its_last_checkpoint_and_aim_run(make_cfg, tmp_path) -> None:
    """A run folder as ckpt_path resumes from last.ckpt (not best.ckpt), and the resumed run
    goes on in the earlier run's Aim run, so its curves stay one history."""
    first = train(make_cfg("trainer.max_epochs=1", "logger=aim", run_dir=tmp_path / "first"))
    resumed = make_cfg(
        "trainer.max_epochs=2",
        "logger=aim",
        f"ckpt_path={tmp_path / 'first'}",
        "analyses=false",
        run_dir=tmp_path / "second",
    )
    assert resumed.paths.aim_repo != first["aim_run_hash"]
    resumed.paths.aim_repo = str(tmp_path / "first" / "aim")  # the earlier run's repo
    summary = train(resumed)
    assert summary["epochs_trained"] == 2
    assert summary["aim_run_hash"] == first["aim_run_hash"]


def test_resume_takes_the_runs_own_settings(make_cfg, tmp_path: Path, caplog) -> None:
    """Resuming with only trainer.max_epochs composes the run's config.yaml (its backbone,
    pooler, data and recipe), not the primary config's defaults (MiniLM, [CLS], all of
    Jigsaw), and names the override in one line."""
    first = make_cfg("model=mean_pooler", "model.optimizer.lr=1e-3", run_dir=tmp_path / "first")
    train(first)
    resumed = make_cfg(
        f"ckpt_path={tmp_path / 'first'}",
        "trainer.max_epochs=2",
        tiny=False,
        run_dir=tmp_path / "second",
    )
    assert resumed.backbone.name == "minilm"  # what the command line alone composes
    with caplog.at_level("INFO", logger="src.runs.resume"):
        summary = train(resumed)
    assert summary["epochs_trained"] == 2
    assert f"resuming {tmp_path / 'first'} with its settings; overridden: trainer.max_epochs=2" in (
        caplog.text
    )
    saved = (tmp_path / "second" / "config.yaml").read_text()
    assert "name: tiny_bert" in saved and "pooling: mean" in saved and "lr: 0.001" in saved
    assert str(tmp_path / "second" / "checkpoints") in saved  # this run's folders, not the first's
    assert str(tmp_path / "first" / "checkpoints") not in saved


def test_resume_refuses_settings_the_checkpoint_fixes(make_cfg, tmp_path: Path) -> None:
    train(make_cfg(run_dir=tmp_path / "first"))
    cfg = make_cfg(
        "model=mean_pooler", f"ckpt_path={tmp_path / 'first'}", run_dir=tmp_path / "second"
    )
    with pytest.raises(TextlabError, match="model.pooling is cls in the run, mean here") as err:
        train(cfg)
    assert "\n" not in str(err.value)


def test_missing_checkpoint_is_a_clear_error(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(f"ckpt_path={tmp_path}/nope.ckpt")
    with pytest.raises(TextlabError, match="checkpoint not found"):
        train(cfg)


def test_aim_run_read_back(make_cfg, tmp_path: Path) -> None:
    """The run is in the SDK as soon as training returns (indexed when it closed), named and
    tagged; the best checkpoint's scores are params, not an extra epoch."""
    from aim import Repo

    cfg = make_cfg("logger=aim", "trainer.max_epochs=1")
    summary = train(cfg)
    runs = list(Repo(str(tmp_path / "run" / "aim")).iter_runs())
    assert [run.hash for run in runs] == [summary["aim_run_hash"]]
    run = runs[0]
    assert run["hparams", "config"]["model"]["pooling"] == "cls"
    assert run["hparams", "run"]["git_commit"]
    assert run.name.endswith(" debug max_epochs=1") and list(run.tags) == ["dev"]
    tracked = {(m.name, tuple(sorted(m.context.to_dict().items()))): m for m in run.metrics()}
    assert ("loss", (("subset", "train"),)) in tracked
    # one epoch trained: one point on the val curve
    assert tracked[("auc_macro", (("subset", "val"),))].epochs.values_list() == [0]
    for split in ("val", "test"):  # the best checkpoint's scores: params, not series
        value = run["scores", "best", split, "auc_macro"]
        assert math.isclose(value, summary["metrics"][f"{split}/auc_macro"], rel_tol=1e-6)
    assert not any("checkpoint" in dict(context) for _, context in tracked)
    assert ("auc_macro", (("subset", "test"),)) not in tracked  # test: the best checkpoint's


def run_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    # results.csv rows of these failing runs go to a temporary folder, not the project's logs/
    run_dir = next(a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir="))
    return run_module("src.train", *args, f"results_file={run_dir}/results.csv", timeout=timeout)


def test_gpu_trainer_without_gpu_stops_with_one_line(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_cli("model=avg_pooler", "trainer=a100", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: no GPU found (trainer.accelerator=gpu); use trainer=cpu on this machine"
    )


def test_unreachable_backbone_fails_before_training(tmp_path: Path) -> None:
    result = run_cli("backbone=bert_base", "logger=csv", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: tokenizer 'bert-base-uncased' is neither a local folder")
    assert "backbone=minilm" in last


def test_load_run_reproduces_test_predictions(make_cfg, tmp_path: Path) -> None:
    from src.runs.loading import load_run

    cfg = make_cfg("trainer.max_epochs=1")
    summary = train(cfg)
    loaded = load_run(summary["best_checkpoint"])
    assert loaded.run_dir == tmp_path / "run"
    from src.config import build_datamodule

    datamodule = build_datamodule(loaded.cfg.data)
    datamodule.prepare_data()
    datamodule.setup("test")
    probs, targets = [], []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            probs.append(torch.sigmoid(loaded.model(batch["input_ids"], batch["attention_mask"])))
            targets.append(batch["labels"])
    from src.tasks.multilabel.metrics import multilabel_scores

    scores = multilabel_scores(torch.cat(probs), torch.cat(targets), loaded.model.label_names)
    assert scores["auc_macro"] == pytest.approx(summary["metrics"]["test/auc_macro"], abs=1e-6)


def test_load_run_without_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    from src.runs.loading import load_run

    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(TextlabError, match="config.yaml not found"):
        load_run(ckpt)


def test_trains_without_any_logger(make_cfg) -> None:
    """logger=none: the default callbacks (LearningRateMonitor needs a logger) still work."""
    summary = train(make_cfg("logger=none", "analyses=false"))
    assert summary["status"] == "success"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=token_tagger"], "model=token_tagger tags words"),
        (["data=wnut17"], "use model=token_tagger"),
    ],
)
def test_model_and_data_task_must_match(make_cfg, overrides, message) -> None:
    with pytest.raises(TextlabError, match=message):
        train(make_cfg(*overrides))


def test_console_is_quiet_and_train_log_ends_like_it(tmp_path: Path) -> None:
    """The composed config once, one per-label table (not Lightning's two), "Restoring
    states" once, no raw tensors, and train.log ends with the same summary."""
    from tests.conftest import TINY

    run = tmp_path / "run"
    done = run_module("src.train", *TINY, f"hydra.run.dir={run}", f"paths.log_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    console = done.stdout + done.stderr
    assert console.count("config:\n") == 1 and "print_config: true" in console
    assert console.count("Restoring states") == 1
    assert "┃" not in console  # Lightning's rich metric tables
    tables = [line for line in console.splitlines() if line.startswith("label ")]
    assert len(tables) == 1 and "auc val" in tables[0]
    assert "tensor(" not in console
    summary = done.stdout.rstrip().splitlines()
    assert summary[-1].startswith("  python -m src.serve")
    log = (run / "train.log").read_text().rstrip().splitlines()
    assert log[-12:] == summary[-12:] and any(line.startswith("run folder:") for line in log)
