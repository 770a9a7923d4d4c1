"""Open a finished run again, safely: find it, check its config, rebuild its model.

A run folder is something researchers share, so opening one must never execute code: its
``config.yaml`` may only name the classes and functions textlab itself builds a model and its
data from (checked before anything is instantiated), and checkpoints load weights-only.

A run is referred to by a checkpoint (``<run>/checkpoints/best.ckpt``), by its folder, or as
``latest`` (the newest finished training run) / ``latest:<task_name>``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from src.config import build
from src.errors import TextlabError
from src.runs.folder import CONFIG_FILE, MAX_JSON_BYTES, METRICS_FILE, read_json_file

log = logging.getLogger(__name__)

LATEST = "latest"
CHECKPOINTS = "checkpoints"
#: where a config.yaml may point its ``_target_`` keys; each target is also checked by kind
ALLOWED_PREFIXES = ("src.data.", "src.tasks.", "src.models.", "torch.optim.")


@dataclass
class LoadedRun:
    run_dir: Path
    cfg: DictConfig
    model: Any
    checkpoint: dict[str, Any]


def _allowed_object(obj: Any) -> bool:
    """What a run folder may name: textlab's own data modules, tasks, models and encoder
    builders, and torch's optimizers and learning-rate schedules."""
    import lightning.pytorch as L
    import torch

    module = getattr(obj, "__module__", "") or ""
    if inspect.isclass(obj):
        if module.startswith("torch.optim"):
            return issubclass(obj, torch.optim.Optimizer | torch.optim.lr_scheduler.LRScheduler)
        project_bases = (L.LightningDataModule, L.LightningModule, torch.nn.Module)
        from src.tasks.base import Task

        return module.startswith("src.") and issubclass(obj, (*project_bases, Task))
    if inspect.isfunction(obj):
        return module.startswith("src.") and getattr(obj, "run_folder_safe", False)
    return False


def _locate(target: str) -> Any:
    module_name, _, name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return None


def _targets(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, DictConfig):
        for key in node:
            child = node._get_node(key)
            name = str(key)
            where = f"{path}.{name}" if path else name
            if key == "_target_":
                assert child is not None  # `key` is one of `node`'s own keys
                yield where, child._value()
            else:
                yield from _targets(child, where)
    elif isinstance(node, ListConfig):
        for index in range(len(node)):
            yield from _targets(node._get_node(index), f"{path}[{index}]")


#: the parts of a run's config that opening it builds objects from
BUILT_FROM_RUN = ("model", "data", "backbone")


#: ``_target_`` names that runs written by earlier versions of textlab hold -> today's names
MOVED_TARGETS = {
    "src.tasks.multilabel.MultilabelTask": "src.tasks.multilabel.task.MultilabelTask",
    "src.tasks.multiclass.MulticlassTask": "src.tasks.multiclass.task.MulticlassTask",
    "src.tasks.token.TokenTask": "src.tasks.token.task.TokenTask",
}
#: the token family's old target, resolved by the config's ``file_format``
TOKEN_FAMILY = "src.data.tagging.TokenDataModule"
TOKEN_DATASETS = {
    "conll": "src.data.datasets.ConllDataModule",
    "vua": "src.data.datasets.VuaDataModule",
}


def upgrade_targets(cfg: DictConfig) -> int:
    """Rename, in place, the ``_target_`` keys of a run written by an earlier version whose
    classes have moved; returns how many changed."""
    changed = 0
    data = cfg.get("data")
    if isinstance(data, DictConfig) and data.get("_target_") == TOKEN_FAMILY:
        data._target_ = TOKEN_DATASETS.get(str(data.get("file_format")), TOKEN_FAMILY)
        changed += data._target_ != TOKEN_FAMILY
    for name in BUILT_FROM_RUN:
        node = cfg.get(name)
        for key, target in list(_targets(node, name)) if node is not None else []:
            if target in MOVED_TARGETS:
                OmegaConf.update(cfg, key, MOVED_TARGETS[target], merge=False)
                changed += 1
    return changed


def check_run_config(cfg: DictConfig, source: Path) -> None:
    """Refuse a config whose ``_target_`` (in the parts opening a run builds: model, data,
    backbone) names anything but what textlab builds itself."""
    nodes = [(name, cfg._get_node(name)) for name in BUILT_FROM_RUN if name in cfg]
    found = [item for name, node in nodes for item in _targets(node, name)]
    for key, target in found:
        name = str(target)
        allowed = isinstance(target, str) and name.startswith(ALLOWED_PREFIXES)
        if not (allowed and _allowed_object(_locate(name))):
            raise TextlabError(
                f"{source}: {key} = {name!r} is not something textlab builds a model or its "
                "data from; refusing to open this run folder (it may have been edited to run "
                "code). Use a run folder written by `python -m src.train`"
            )


def run_dir_of(ckpt_path: str | Path) -> Path:
    """``<run>/checkpoints/x.ckpt`` -> ``<run>``."""
    ckpt = Path(ckpt_path)
    return ckpt.parent.parent if ckpt.parent.name == CHECKPOINTS else ckpt.parent


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _unreadable(folder: Path) -> str | None:
    """Why ``latest`` cannot use a finished run's folder (its config.yaml), or None."""
    config_file = folder / CONFIG_FILE
    try:
        if config_file.stat().st_size > MAX_JSON_BYTES:
            return f"{CONFIG_FILE} is {config_file.stat().st_size:,} bytes"
        cfg = OmegaConf.load(config_file)
    except Exception as err:  # noqa: BLE001  (yaml and OmegaConf raise many types)
        return f"{CONFIG_FILE}: {type(err).__name__}"
    return None if isinstance(cfg, DictConfig) else f"{CONFIG_FILE} is not a mapping"


def _finished_runs(log_dir: Path, task_name: str) -> tuple[list[Path], list[str]]:
    """The finished runs of ``task_name``, oldest first, and why each folder that could not be
    read was passed over (a damaged metrics.json)."""
    folders = [*log_dir.glob(f"{task_name}/runs/*"), *log_dir.glob(f"{task_name}/multiruns/*/*")]
    finished, passed_over = [], []
    for folder in folders:
        record = read_json_file(folder / METRICS_FILE)
        if record is None:
            if (folder / METRICS_FILE).exists():
                passed_over.append(f"{folder}: {METRICS_FILE} is damaged")
            continue
        if record.get("status") == "success" and (folder / CHECKPOINTS).is_dir():
            finished.append(folder)
    return sorted(finished, key=lambda f: _modified(f / METRICS_FILE)), passed_over


def _latest_run(log_dir: Path, task_name: str) -> Path | None:
    """The newest finished run whose folder can be read; the folders passed over on the way
    are named in one warning line."""
    runs, passed_over = _finished_runs(log_dir, task_name)
    chosen = None
    for folder in reversed(runs):
        problem = _unreadable(folder)
        if problem is None:
            chosen = folder
            break
        passed_over.append(f"{folder}: {problem}")
    if passed_over:
        log.warning(
            "latest: passed over %d run folder(s) that cannot be read (%s%s)",
            len(passed_over),
            passed_over[0],
            f"; and {len(passed_over) - 1} more" if len(passed_over) > 1 else "",
        )
    return chosen


def resolve_checkpoint(
    reference: str | Path | None,
    log_dir: str | Path = "logs",
    prefer: tuple[str, ...] = ("best.ckpt", "last.ckpt"),
) -> Path:
    """A checkpoint file from a checkpoint, a run folder, ``latest`` or ``latest:<task>``."""
    if reference is None or not str(reference).strip():
        raise TextlabError(
            "ckpt_path is required: ckpt_path=latest (the newest finished training run), a run "
            "folder, or <run>/checkpoints/best.ckpt"
        )
    text = str(reference)
    if text == LATEST or text.startswith(LATEST + ":"):
        task_name = text.partition(":")[2] or "train"
        if "/" in task_name or ".." in task_name:
            raise TextlabError(
                f"ckpt_path={text}: {task_name!r} is not a task name (a folder name under "
                f"{log_dir}); use latest:train or a run folder"
            )
        latest = _latest_run(Path(log_dir), task_name)
        if latest is None:
            raise TextlabError(
                f"ckpt_path={text}: no finished run under {Path(log_dir) / task_name}; train "
                "one first (python -m src.train), or pass a run folder or checkpoint"
            )
        return resolve_checkpoint(latest, log_dir, prefer)
    path = Path(text).expanduser()
    if path.is_dir():
        for name in prefer:
            if (path / CHECKPOINTS / name).is_file():
                return path / CHECKPOINTS / name
        raise TextlabError(
            f"{path} holds no checkpoints/best.ckpt or last.ckpt; pass a run folder written "
            "by `python -m src.train`, or a checkpoint file"
        )
    if not path.is_file():
        raise TextlabError(
            f"checkpoint not found: {path}; pass ckpt_path=latest, a run folder, or "
            "<run>/checkpoints/best.ckpt of a run"
        )
    return path


def load_run_config(ckpt_path: str | Path) -> DictConfig:
    """The checked ``config.yaml`` of the run a checkpoint belongs to."""
    ckpt = Path(ckpt_path)
    if not ckpt.is_file():
        raise TextlabError(
            f"checkpoint not found: {ckpt}; pass ckpt_path=<run>/checkpoints/best.ckpt of a run"
        )
    config_file = run_dir_of(ckpt) / CONFIG_FILE
    if not config_file.is_file():
        raise TextlabError(
            f"{config_file} not found: the checkpoint must sit in a run folder written by "
            "`python -m src.train` (<run>/checkpoints/*.ckpt next to <run>/config.yaml)"
        )
    try:
        cfg = OmegaConf.load(config_file)
    except Exception as err:  # noqa: BLE001  (yaml and OmegaConf raise many types)
        raise TextlabError(f"cannot read {config_file}: {err}") from None
    if not isinstance(cfg, DictConfig):
        raise TextlabError(f"{config_file} is not a mapping; use the run's own config.yaml")
    upgrade_targets(cfg)
    check_run_config(cfg, config_file)
    return cfg


def read_checkpoint(ckpt_path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """A Lightning checkpoint loaded weights-only (no pickled code can run)."""
    import torch

    try:
        checkpoint = torch.load(ckpt_path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises many types for a bad file)
        reason = " ".join(str(err).split())[:300]
        raise TextlabError(
            f"cannot read checkpoint {ckpt_path}: {reason}; it is damaged, truncated or not a "
            "checkpoint written by textlab"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise TextlabError(f"{ckpt_path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def state_dict_mismatch(state_dict: dict[str, Any], model: Any) -> str | None:
    """How a checkpoint's weights differ from ``model``'s (missing, unexpected or differently
    shaped tensors, the first of each), or None when they fit."""
    own = model.state_dict()
    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in state_dict if key not in own]
    shapes = [
        f"{key} {tuple(state_dict[key].shape)} vs {tuple(own[key].shape)}"
        for key in own
        if key in state_dict
        and hasattr(state_dict[key], "shape")
        and tuple(state_dict[key].shape) != tuple(own[key].shape)
    ]
    parts = [
        f"{len(items)} {what}, e.g. {items[0]}"
        for what, items in (
            ("weights missing", missing),
            ("unexpected weights", unexpected),
            ("weights of another shape (checkpoint vs model)", shapes),
        )
        if items
    ]
    return "; ".join(parts) or None


def check_resume_checkpoint(ckpt_path: str | Path, model: Any) -> dict[str, Any]:
    """The checkpoint a training run resumes from, read weights-only and checked against the
    model the run built: one line when it is damaged or belongs to another model."""
    checkpoint = read_checkpoint(ckpt_path)
    mismatch = state_dict_mismatch(checkpoint["state_dict"], model)
    if mismatch:
        raise TextlabError(
            f"cannot resume from {ckpt_path}: it does not fit this run's model ({mismatch}); "
            "resume with the backbone and model options of the run that wrote it"
        )
    return checkpoint


def load_run(ckpt_path: str | Path, map_location: str = "cpu") -> LoadedRun:
    """The model of a run with the checkpoint's weights, in eval mode."""
    cfg = load_run_config(ckpt_path)
    checkpoint = read_checkpoint(ckpt_path, map_location)
    label_names = checkpoint.get("hyper_parameters", {}).get("label_names")
    if not label_names:
        raise TextlabError(f"checkpoint {ckpt_path} has no label_names hyper-parameter")
    model = build(cfg.model, label_names=list(label_names))
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise TextlabError(
            f"checkpoint {ckpt_path} does not fit the model of its run folder's config.yaml "
            f"({first}); was it copied from a run with another backbone or model?"
        ) from None
    model.eval()
    return LoadedRun(run_dir_of(ckpt_path), cfg, model, checkpoint)
