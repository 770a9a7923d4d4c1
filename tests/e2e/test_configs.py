"""Every config in conf/ composes, and instantiates where this machine can run it."""

from __future__ import annotations

import hydra
import lightning.pytorch as L
import pytest
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf

from src.config import build, build_datamodule, check_accelerator, instantiate_group
from src.errors import TextlabError
from tests.conftest import ROOT

CONF = ROOT / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_groups_exist() -> None:
    assert {"cls_pooler", "avg_pooler"} <= set(options("model"))
    assert {"cpu", "gpu", "a100", "debug"} <= set(options("trainer"))
    assert {"aim", "csv"} <= set(options("logger"))
    expected = {
        "minilm",
        "bert_base",
        "distilbert",
        "distilbert_multilingual",
        "tiny_bert",
        "tiny_distilbert",
    }
    assert expected <= set(options("backbone"))


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainer_configs(make_cfg, trainer: str) -> None:
    cfg = make_cfg(f"trainer={trainer}")
    if cfg.trainer.accelerator in {"gpu", "cuda"}:
        import torch

        if not torch.cuda.is_available():
            with pytest.raises(TextlabError, match="no GPU found.*use trainer=cpu"):
                check_accelerator(cfg.trainer)
            return
    assert isinstance(hydra.utils.instantiate(cfg.trainer), L.Trainer)


@pytest.mark.parametrize("logger", options("logger"))
def test_logger_configs(make_cfg, logger: str) -> None:
    cfg = make_cfg(f"logger={logger}")
    loggers = instantiate_group(cfg.logger)
    assert len(loggers) == (0 if logger == "none" else 1)


@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_callback_configs(make_cfg, callbacks: str) -> None:
    """Every callback set builds; the after-fit analyses run in the order their results feed
    each other (predictions, thresholds, calibration, then the plots that use both, then the
    records of them all)."""
    cfg = make_cfg(f"callbacks={callbacks}")
    names = [type(c).__name__ for c in instantiate_group(cfg.callbacks)]
    if callbacks == "none":
        assert names == []
        return
    analyses = [
        "SavePredictions",
        "TuneThresholds",
        "Calibration",
        "ConfusionMatrix",
        "DiagnosticPlots",
        "RunStatistics",
        "AimArtifacts",
    ]
    assert names[0] == "RunCheckpoint"
    assert [name for name in names if name in analyses] == analyses
    assert ("EarlyStopping" in names) == (callbacks == "early_stopping")


@pytest.mark.parametrize("backbone", options("backbone"))
def test_backbone_configs(make_cfg, backbone: str) -> None:
    cfg = make_cfg(f"backbone={backbone}")
    OmegaConf.resolve(cfg)
    if backbone in {"minilm", "tiny_bert", "tiny_distilbert", "bert_base_random"}:
        encoder = build(cfg.backbone.encoder)
        tokenizer = build(cfg.backbone.tokenizer)
        assert encoder.config.vocab_size == len(tokenizer)
    else:  # hub names: offline here, so a clear one-line error instead of retries
        with pytest.raises(
            TextlabError, match="neither a local folder nor in the Hugging Face cache"
        ):
            build(cfg.backbone.tokenizer)


@pytest.mark.parametrize("data", options("data"))
def test_data_configs(make_cfg, data_dir_for, data: str) -> None:
    limits = ["data.max_train_rows=120", "data.max_test_rows=60"]
    official_val = "max_val_rows" in OmegaConf.load(CONF / "data" / f"{data}.yaml")
    if official_val:
        limits.append("data.max_val_rows=60")
    cfg = make_cfg(f"data={data}", *limits)
    synthetic = data_dir_for(cfg)  # a synthetic set in the same format when the data is absent
    cfg = make_cfg(f"data={data}", *limits, *synthetic)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert datamodule.num_labels == len(datamodule.label_names) > 1
    rows = len(datamodule.raw_split("train").texts) if synthetic else None
    expected = 120 if official_val else 108
    assert len(datamodule.train_dataset) == (min(expected, rows) if rows else expected)


@pytest.mark.parametrize("debug", options("debug"))
def test_debug_configs(make_cfg, debug: str) -> None:
    cfg = make_cfg(f"debug={debug}")
    assert isinstance(hydra.utils.instantiate(cfg.trainer), L.Trainer)


def test_unknown_group_value_names_the_options(make_cfg) -> None:
    with pytest.raises(MissingConfigException, match="avg_pooler"):
        make_cfg("model=median_pooler")
