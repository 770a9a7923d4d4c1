"""What every benchmark case shares: settings, the real configs, fixed batches, timers, RSS.

Each case builds its model and data from the project's own Hydra configs (``conf/``), so the
figures are for what ``python -m src.train`` runs, not for a hand-made stand-in.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PROJECT_ROOT", str(ROOT))


@dataclass
class BenchSettings:
    """Sizes of one benchmark run; the defaults are what ``make bench`` measures."""

    backbone: str = "minilm"
    data: str = "jigsaw"
    threads: int = 2
    batch_size: int = 32
    precision: str = "bf16-mixed"
    #: training throughput (case 1): warm-up steps (not timed) and timed steps
    train_max_length: int = 128
    warmup_steps: int = 3
    train_steps: int = 20
    #: runs of each loop, alternated (bare, lightning, bare, ...)
    loop_repeats: int = 3
    #: padding (case 2): max_length and timed batches per strategy, extrapolated to an epoch
    padding_max_length: int = 256
    padding_batches: int = 6
    chunk_batches: int = 50
    #: inference (case 4): batches of Jigsaw test rows
    infer_max_length: int = 128
    infer_batches: int = 12
    #: the peer benchmark (case 6, ``benchmarks.peer``): quick, full (the default job) or off
    peer: str = "quick"
    peer_seeds: str = "42"
    work_dir: str = str(ROOT / ".cache" / "bench")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def add_settings_flags(parser: argparse.ArgumentParser, settings_class: type) -> None:
    """One ``--flag-name`` per field of a settings dataclass, typed by its default; a bool flag
    alone means true (``--quick``), or takes a word (``--minilm false``)."""
    for field in fields(settings_class):
        flag = "--" + field.name.replace("_", "-")
        kind: Callable[[str], Any] = type(field.default)
        if kind is bool:  # bool("false") is True: parse the word
            kind = lambda text: str(text).lower() in {"1", "true", "yes"}  # noqa: E731
            parser.add_argument(flag, type=kind, nargs="?", const=True, default=field.default)
            continue
        parser.add_argument(flag, type=kind, default=field.default)


def settings_from_args(args: argparse.Namespace, settings_class: type):
    """The settings dataclass filled from the parsed flags of `add_settings_flags`."""
    return settings_class(**{f.name: getattr(args, f.name) for f in fields(settings_class)})


def compose_train_config(settings: BenchSettings, *overrides: str) -> DictConfig:
    """The real ``train`` config for this backbone and data set, writing under work_dir."""
    work = Path(settings.work_dir)
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(
            "train",
            overrides=[
                f"backbone={settings.backbone}",
                f"data={settings.data}",
                f"data.batch_size={settings.batch_size}",
                f"trainer.precision={settings.precision}",
                *overrides,
            ],
            return_hydra_config=True,
        )
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(work / "run")
        cfg.paths.log_dir = str(work / "logs")
        cfg.paths.aim_repo = str(work / "aim")
        cfg.paths.cache_dir = str(work / "cache")
        del cfg.hydra
    return cfg


def use_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def autocast(precision: str):
    """The autocast context Lightning's ``precision`` setting uses on CPU."""
    enabled = precision.startswith("bf16")
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (Linux reports kilobytes)."""
    kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kilobytes / 1024 if sys.platform != "darwin" else kilobytes / 2**20, 1)


def machine() -> dict[str, Any]:
    """What the figures were measured on: the CPU model (``src.runs.provenance.machine``),
    the machine's CPU count, torch, CUDA and Python."""
    from src.runs.provenance import machine as project_machine

    return {
        "cpu_model": project_machine()["cpu"],
        "nproc": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "python": platform.python_version(),
    }
