"""Compose the real Hydra configs and shrink them: tiny model, few rows, one epoch, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "conf"
os.environ["PROJECT_ROOT"] = str(ROOT)

TINY = [
    "backbone=tiny_bert",
    "data=jigsaw_sample",
    "data.max_train_rows=240",
    "data.max_test_rows=120",
    "data.max_length=32",
    "data.batch_size=16",
    "trainer=debug",
    "logger=csv",
]


def compose_config(name: str, overrides: list[str], run_dir: Path, cache_dir: Path) -> DictConfig:
    """A composed config whose ${hydra:...} keys resolve, writing only under run_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.paths.log_dir = str(run_dir / "logs")
        cfg.paths.cache_dir = str(cache_dir)
        cfg.paths.aim_repo = str(run_dir / "aim")
        del cfg.hydra
    return cfg


@pytest.fixture(scope="session")
def token_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One token cache for the whole session: later tests reuse earlier tokenisation."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def make_cfg(tmp_path: Path, token_cache_dir: Path) -> Callable[..., DictConfig]:
    """``make_cfg(*overrides, name="train")``: the tiny training config plus overrides."""

    def make(
        *overrides: str, name: str = "train", tiny: bool = True, run_dir: Path | None = None
    ) -> DictConfig:
        base = TINY if tiny and name == "train" else []
        return compose_config(
            name, [*base, *overrides], run_dir or tmp_path / "run", token_cache_dir
        )

    return make


@pytest.fixture(scope="session")
def external_data_dir() -> Path:
    """The research-only data sets (not shipped): TEXTLAB_DATA_DIR, else ../shared/data."""
    folder = Path(os.environ.get("TEXTLAB_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not folder.is_dir():
        pytest.skip(f"research-only data folder {folder} is absent; set TEXTLAB_DATA_DIR")
    return folder


def run_module(module: str, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """``python -m <module> args`` from the project root, offline, as a user runs it."""
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
