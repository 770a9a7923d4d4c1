"""A run folder is shared between people: opening one (eval, predict, export, resume) must never
run code from it. An edited ``config.yaml`` naming ``os.system`` as a ``_target_``, or a
checkpoint whose unpickling runs a command, is refused in one line and runs nothing."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
import yaml

from src.errors import TextlabError
from src.runs.checkpoints import AtomicCheckpointIO
from src.runs.lifecycle import run_job
from src.train import train
from tests.conftest import run_module
from tests.faults.conftest import MARKER, assert_one_line

#: a key of each part of config.yaml a run is rebuilt from
HOSTILE_KEYS = [
    "model.encoder.vocab_size",
    "data.tokenizer.name_or_path",
    "backbone.encoder.vocab_size",
]


def make_hostile(run: Path, key: str, marker: Path) -> Path:
    """Put ``{_target_: os.system, _args_: [touch marker]}`` at ``key`` of the run's config."""
    config_file = run / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = {"_target_": "os.system", "_args_": [f"touch {marker}"]}
    config_file.write_text(yaml.safe_dump(config))
    return run / "checkpoints" / "best.ckpt"


class Pwn:
    """Unpickling this runs a shell command (what a hostile checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def hostile_checkpoint(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "epoch": 0, "payload": Pwn(marker)}, path, pickle_module=pickle)
    return path


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_config_is_refused_by_eval_predict_and_export(
    run_copy: Path, tmp_path: Path, key: str
) -> None:
    from src.deploy.exporter import export_run
    from src.deploy.torch_predictors import CheckpointPredictor
    from src.eval import evaluate_checkpoint

    marker = tmp_path / MARKER
    ckpt = make_hostile(run_copy, key, marker)
    for open_run in (
        lambda: evaluate_checkpoint(ckpt),
        lambda: CheckpointPredictor(ckpt),
        lambda: export_run(ckpt, "hf", out_dir=tmp_path / "export"),
    ):
        with pytest.raises(TextlabError) as err:
            open_run()
        message = str(err.value)
        assert "\n" not in message and f"{key}._target_ = 'os.system'" in message
        assert "refusing to open this run folder" in message
    assert not marker.exists()


@pytest.mark.slow
def test_hostile_config_is_refused_on_the_command_line(run_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / MARKER
    ckpt = make_hostile(run_copy, "model.encoder.vocab_size", marker)
    logs = f"paths.log_dir={tmp_path / 'logs'}"
    for module, args in (
        ("src.eval", [f"ckpt_path={ckpt}", logs]),
        ("src.predict", [f"ckpt_path={ckpt}", "text=hello"]),
        ("src.export", [f"ckpt_path={ckpt}", "format=hf", f"out_dir={tmp_path / 'x'}", logs]),
    ):
        done = run_module(module, *args)
        assert done.returncode == 2, (module, done.stderr[-2000:])
        assert_one_line(done.stderr, "model.encoder.vocab_size._target_", "os.system")
    assert not marker.exists()


def test_pickled_code_in_a_resume_checkpoint_is_refused(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Even with torch told to unpickle anything (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1)."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / MARKER
    last = hostile_checkpoint(tmp_path / "earlier" / "checkpoints" / "last.ckpt", marker)
    cfg = make_cfg(f"ckpt_path={last}", "trainer.max_epochs=1")
    with pytest.raises(SystemExit) as exit_:
        run_job(train, cfg, cfg.paths.output_dir)
    assert exit_.value.code == 2
    assert_one_line(capsys.readouterr().err, f"cannot read checkpoint {last}", "Weights only")
    assert not marker.exists()


def test_checkpoint_reader_of_every_trainer_refuses_pickled_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate/test/predict(ckpt_path=...) read through the trainer's checkpoint plugin."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / MARKER
    ckpt = hostile_checkpoint(tmp_path / "x.ckpt", marker)
    for weights_only in (None, True):
        with pytest.raises(TextlabError, match="cannot read checkpoint"):
            AtomicCheckpointIO().load_checkpoint(ckpt, weights_only=weights_only)
    assert not marker.exists()


def test_truncated_resume_checkpoint_is_one_line(make_cfg, run_copy: Path) -> None:
    last = run_copy / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(TextlabError, match="damaged, truncated") as err:
        train(make_cfg(f"ckpt_path={last}", "trainer.max_epochs=2"))
    assert "\n" not in str(err.value)


def test_resuming_from_another_backbone_is_one_line(make_cfg, run_copy: Path) -> None:
    """The tiny run is tiny_bert; a tiny_distilbert run cannot continue from its weights."""
    last = run_copy / "checkpoints" / "last.ckpt"
    cfg = make_cfg("backbone=tiny_distilbert", f"ckpt_path={last}", "trainer.max_epochs=2")
    with pytest.raises(TextlabError, match="backbone.name is tiny_bert in the run") as err:
        train(cfg)
    assert "\n" not in str(err.value) and "tiny_distilbert here" in str(err.value)
