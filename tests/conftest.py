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
    """The research-only data sets (not shipped), for the tests that check real files:
    TEXTLAB_DATA_DIR; skipped when it is not set."""
    folder = Path(os.environ.get("TEXTLAB_DATA_DIR", ROOT / "data" / "external"))
    if not folder.is_dir():
        pytest.skip(f"research-only data folder {folder} is absent; set TEXTLAB_DATA_DIR")
    return folder


EMOTION_WORDS = {
    "sadness": ["lonely", "miserable", "heartbroken", "gloomy"],
    "joy": ["happy", "delighted", "cheerful", "glad"],
    "love": ["affectionate", "tender", "devoted", "romantic"],
    "anger": ["furious", "irritated", "outraged", "bitter"],
    "fear": ["scared", "anxious", "terrified", "nervous"],
    "surprise": ["amazed", "astonished", "shocked", "stunned"],
}


@pytest.fixture(scope="session")
def emotion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small data set in the dair-ai emotion format (``text;label_name`` lines, header):
    the tests of the multi-class path run everywhere, without the research-only files."""
    folder = tmp_path_factory.mktemp("emotion")
    labels = list(EMOTION_WORDS)
    for split, rows in (("train", 240), ("val", 72), ("test", 72)):
        lines = ["text;label_name"]
        for i in range(rows):
            label = labels[i % len(labels)]
            word = EMOTION_WORDS[label][(i // len(labels)) % 4]
            lines.append(f"i feel so {word} about what happened on day {i} of {split};{label}")
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
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


@pytest.fixture(scope="session")
def vua_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small data set in the VUA metaphor sequence format (one sentence per CSV row, a 0/1
    label per word): the binary tagging path runs everywhere, without the research-only files."""
    import gzip

    folder = tmp_path_factory.mktemp("vua")
    header = "txt_id,sen_ix,sentence,label_seq,pos_seq,labeled_sentence,genre"
    metaphors = ["grasp", "attack", "build", "climb"]
    for split, rows in (("train", 64), ("val", 24), ("test", 24)):
        lines = [header]
        for i in range(rows):
            verb = metaphors[i % 4]
            words = f"we {verb} the idea of day {i} in {split} .".split()
            labels = ", ".join("1" if w == verb else "0" for w in words)
            lines.append(f'doc{i},{i},"{" ".join(words)}","[{labels}]","[]","",news')
        path = folder / f"VUA_seq_formatted_{split}.csv.gz"
        path.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode()))
    return folder


#: research-only data configs -> the fixture with a synthetic set in the same format
SYNTHETIC_DATA = {"emotion": "emotion_dir", "vua_metaphor": "vua_dir"}


@pytest.fixture
def data_dir_for(request: pytest.FixtureRequest) -> Callable[[DictConfig], list[str]]:
    """``data_dir_for(cfg)``: the overrides that point a config at data that is there: none
    when its data folder exists, else the synthetic set of its research-only data config (so
    those configs run end to end without the research-only files)."""

    def overrides(cfg: DictConfig) -> list[str]:
        if Path(cfg.data.get("data_dir", ".")).is_dir():
            return []
        choice = (
            HydraConfig.get().runtime.choices.get("data") if HydraConfig.initialized() else None
        )
        fixture = SYNTHETIC_DATA.get(str(choice))
        if fixture is None:
            pytest.fail(f"data folder {cfg.data.data_dir} is absent and has no synthetic stand-in")
        return [f"data.data_dir={request.getfixturevalue(fixture)}"]

    return overrides
