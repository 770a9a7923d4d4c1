"""Resume a run with the run's own settings: its ``config.yaml`` (backbone, model, data,
recipe), moved to this run's folders, with the command line's explicit overrides on top.

Composing the primary config again would put the defaults back (another backbone, pooler or
data set than the run was trained with) and the checkpoint would not fit. Settings the
checkpoint fixes (the backbone, the pooler, the data set and its labels) may not be changed on
the command line: that is refused in one line naming the key, the run's value and the given one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.errors import TextlabError
from src.runs.folder import CONFIG_FILE
from src.runs.loading import load_run_config, run_dir_of

log = logging.getLogger(__name__)

#: the keys of this run, never the resumed one's: where it writes and what it resumes
OWN_KEYS = ("paths", "ckpt_path", "task_name", "hydra")
#: what the checkpoint's weights were trained with; ``backbone.encoder`` without its kernel
FIXED_KEYS = (
    "backbone.name",
    "backbone.name_or_path",
    "backbone.encoder",
    "model._target_",
    "model.pooling",
    "data._target_",
    "data.task._target_",
)
#: may differ between the run and its resumption (the attention kernel changes no weight)
FREE_LEAVES = ("attn_implementation",)


def command_line_overrides() -> list[str]:
    """The job's overrides as given on the command line (empty outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [str(o) for o in HydraConfig.get().overrides.task]


def resumed_config(cfg: DictConfig, checkpoint: str | Path, overrides: list[str]) -> DictConfig:
    """The config a resumed run trains with: the run's ``config.yaml`` moved to this run's
    folders, then ``overrides`` (taken from ``cfg``, the config composed from them) on top.
    A checkpoint outside a run folder resumes with ``cfg`` as it is."""
    run_dir = run_dir_of(checkpoint)
    if not (run_dir / CONFIG_FILE).is_file():
        log.info("resuming %s: no %s beside it; using the settings given", checkpoint, CONFIG_FILE)
        return cfg
    earlier = load_run_config(checkpoint)
    given = [o for o in _parse(overrides) if _own(o.key_or_group) is False]
    choices = _group_choices()
    merged = _moved(earlier, cfg)
    for override in given:
        key = override.key_or_group.replace("/", ".")
        is_group = override.key_or_group in choices
        if is_group and OmegaConf.select(cfg, key) is None:
            raise TextlabError(
                f"cannot resume {run_dir} with {override.input_line}: that config sets keys "
                "across the whole config, and a resumed run keeps its own settings; give the "
                "keys to change one by one (e.g. trainer.max_epochs=4)"
            )
        if override.is_delete():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(merged, parent) if parent else merged
            if isinstance(node, DictConfig) and leaf in node:
                del node[leaf]
            continue
        _copy(cfg, merged, key)
    refuse_conflicts(earlier, merged, run_dir, [o.input_line for o in given])
    OmegaConf.set_struct(merged, True)
    shown = " ".join(o.input_line for o in given) or "none"
    log.info("resuming %s with its settings; overridden: %s", run_dir, shown)
    return merged


def _parse(overrides: list[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return list(OverridesParser.create().parse_overrides(overrides))


def _own(key: str) -> bool:
    return key.split(".")[0].split("/")[0] in OWN_KEYS


def _group_choices() -> set[str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    return {str(group) for group in HydraConfig.get().runtime.choices}


def _moved(earlier: DictConfig, cfg: DictConfig) -> DictConfig:
    """The run's config with this run's own keys, and every path under the run's folders
    (its run folder, logs, token cache, data, Aim repo) moved to this run's."""
    old: dict[str, Any] = dict(earlier.get("paths") or {})
    new: dict[str, Any] = dict(OmegaConf.to_container(cfg.paths, resolve=True))  # type: ignore[arg-type]
    pairs = sorted(
        ((str(old[k]), str(new[k])) for k in old if k in new and isinstance(old[k], str)),
        key=lambda pair: -len(pair[0]),
    )
    body = OmegaConf.to_container(earlier, resolve=False)
    assert isinstance(body, dict)

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, str):
            for before, after in pairs:
                if before and (value == before or value.startswith(before + "/")):
                    return after + value[len(before) :]
        return value

    moved = {k: move(v) for k, v in body.items() if k not in OWN_KEYS}
    merged = OmegaConf.create({})
    for key in [*cfg, *(k for k in moved if k not in cfg)]:  # in the composed order
        if key in moved:
            merged[key] = moved[key]
        else:  # this run's own keys, and keys the run's version of textlab lacked
            merged[key] = cfg._get_node(key)
    return merged


def _copy(source: DictConfig, target: DictConfig, key: str) -> None:
    """``target[key] = source[key]``, the node as composed (interpolations kept)."""
    node = OmegaConf.select(source, key, throw_on_missing=False)
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)
    OmegaConf.update(target, key, node, merge=False, force_add=True)


def _fixed_value(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, default=None)
    if isinstance(value, DictConfig):
        resolved = OmegaConf.to_container(value, resolve=True)
        assert isinstance(resolved, dict)
        return {k: v for k, v in resolved.items() if k not in FREE_LEAVES}
    return value


def refuse_conflicts(
    earlier: DictConfig, merged: DictConfig, run_dir: Path, given: list[str]
) -> None:
    """One line naming each key the checkpoint fixes whose value the command line changed."""
    if not given:
        return
    found: list[str] = []
    groups: set[str] = set()
    for key in FIXED_KEYS:
        before, now = _fixed_value(earlier, key), _fixed_value(merged, key)
        if before != now and key.split(".")[0] not in groups:  # the first key of a group
            groups.add(key.split(".")[0])
            found.append(f"{key} is {_short(before)} in the run, {_short(now)} here")
    if found:
        raise TextlabError(
            f"cannot resume {run_dir}: its checkpoint was trained with other settings than "
            f"given ({'; '.join(found)}); leave those overrides out to resume it (given: "
            f"{' '.join(given)}), or train a new run"
        )


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
