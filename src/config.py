"""From config to objects, checked: ``_target_`` nodes instantiated with one-line errors, and
the typed schemas every setting is checked against before a run starts.

Every runtime object (DataModule, model, Trainer, loggers, callbacks, baselines) is built from
a Hydra config node here, so a :class:`~src.errors.TextlabError` raised by a constructor comes
out as itself instead of inside Hydra's multi-line ``InstantiationException``. The schemas are
dataclasses (also in Hydra's ConfigStore, group ``schema``): a wrong type or a value out of
range is reported by one mechanism, in one line naming the key (``trainer.max_epochs must be
an integer, got abc``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, cast, get_args, get_type_hints

import hydra
from hydra.core.config_store import ConfigStore
from hydra.errors import InstantiationException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.errors import TextlabError, cause_chain_error

#: data-config keys that describe the task for the rest of the run, not constructor arguments
DATA_DESCRIPTION_KEYS = ("task", "objective", "primary_metric")
GPU_ACCELERATORS = {"gpu", "cuda"}


def build(node: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, with a TextlabError raised by a target passed through."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as err:
        user_error = cause_chain_error(err)
        if user_error is not None:
            raise user_error from None
        raise


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group; ``null`` entries switch one off."""
    if not group:
        return []
    return [
        build(node)
        for node in group.values()
        if isinstance(node, DictConfig) and "_target_" in node
    ]


def build_datamodule(node: DictConfig, **kwargs: Any) -> Any:
    """A DataModule from a data config, leaving out the keys that describe the task."""
    args = resolved_dict(node)
    return build({k: v for k, v in args.items() if k not in DATA_DESCRIPTION_KEYS}, **kwargs)


def resolved_dict(node: DictConfig) -> dict[str, Any]:
    """A DictConfig as a plain, resolved ``dict``, typed as one (``to_container`` is typed for
    any node)."""
    return cast(dict[str, Any], OmegaConf.to_container(node, resolve=True))


def plain_dict(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A DictConfig or mapping as a plain ``dict`` (resolved): hyper-parameters must load with
    ``torch.load(weights_only=True)``. None stays None."""
    if value is None:
        return None
    if isinstance(value, DictConfig):
        return resolved_dict(value)
    return dict(value)


def check_accelerator(trainer_cfg: DictConfig) -> None:
    """Fail at once when a trainer config asks for hardware this machine lacks."""
    import torch

    accelerator = str(trainer_cfg.get("accelerator", "auto")).lower()
    if accelerator in GPU_ACCELERATORS and not torch.cuda.is_available():
        raise TextlabError(
            f"no GPU found (trainer.accelerator={accelerator}); use trainer=cpu on this machine"
        )
    devices = trainer_cfg.get("devices", 1)
    if accelerator in GPU_ACCELERATORS and isinstance(devices, int) and devices > 0:
        available = torch.cuda.device_count()
        if devices > available:
            raise TextlabError(
                f"trainer.devices={devices} but only {available} GPU(s) found; "
                f"set trainer.devices={available}"
            )


def run_folder_safe(function: Any) -> Any:
    """Mark a function as one a run folder's ``config.yaml`` may name as a ``_target_``
    (see ``src.runs.loading``): it builds a model or its data and has no other effect."""
    function.run_folder_safe = True
    return function


# -- schemas: the type and range of every setting a run reads, checked in one place ----------
Rule = tuple[Callable[[Any], bool], str]


def at_least(minimum: float, kind: str = "an integer") -> Rule:
    return (lambda v: v is None or v >= minimum, f"{kind} >= {minimum}")


def between(low: float, high: float) -> Rule:
    return (lambda v: v is None or low <= v <= high, f"a number in [{low}, {high}]")


def one_of(*options: Any) -> Rule:
    return (lambda v: v in options, "one of " + ", ".join(map(str, options)))


POSITIVE: Rule = (lambda v: v is None or v > 0, "a number > 0")
NGRAMS: Rule = (
    lambda v: len(v) == 2 and 1 <= v[0] <= v[1],
    "[low, high] with 1 <= low <= high",
)
#: what per-label thresholds can maximise: F1, any F-beta (f2, f0.5), MCC, Youden's J
THRESHOLD_METRIC: Rule = (
    lambda v: (
        str(v) in ("mcc", "youden")
        or (re.fullmatch(r"f\d+(\.\d+)?", str(v)) is not None and float(str(v)[1:]) > 0)
    ),
    "f1, f2, f0.5 (any f<beta> with beta > 0), mcc or youden",
)
#: OmegaConf's type names in its conversion errors, as the messages say them
KINDS = {
    "Integer": "an integer",
    "Float": "a number",
    "Boolean": "true or false",
    "String": "a string",
}


@dataclass
class OptimizerSchema:
    lr: float = 5e-5
    rules: ClassVar[dict[str, Rule]] = {"lr": at_least(0, "a number")}


@dataclass
class SchedulerSchema:
    warmup_ratio: float = 0.1
    rules: ClassVar[dict[str, Rule]] = {"warmup_ratio": between(0.0, 1.0)}


@dataclass
class ModelSchema:
    """``model``: the head and the optimisation (the encoder comes from ``backbone``)."""

    dropout: float = 0.1
    weight_decay: float = 0.01
    pooling_layers: int = 4
    mix_layers: int = 1
    optimizer: OptimizerSchema = field(default_factory=OptimizerSchema)
    scheduler: SchedulerSchema | None = None
    rules: ClassVar[dict[str, Rule]] = {
        "dropout": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
        "weight_decay": at_least(0, "a number"),
        "pooling_layers": at_least(1),
        "mix_layers": at_least(1),
    }


@dataclass
class DataSchema:
    """``data``: what every data set takes (a data set's own files and columns are checked by
    its reader)."""

    max_length: int = 128
    batch_size: int = 32
    eval_batch_size: int = 64
    num_workers: int = 0
    seed: int = 42
    val_fraction: float = 0.1
    max_train_rows: int | None = None
    max_val_rows: int | None = None
    max_test_rows: int | None = None
    rules: ClassVar[dict[str, Rule]] = {
        "max_length": at_least(2),
        "batch_size": at_least(1),
        "eval_batch_size": at_least(1),
        "num_workers": at_least(0),
        "val_fraction": (lambda v: 0 < v < 1, "a number in (0, 1)"),
        "max_train_rows": at_least(2),
        "max_val_rows": at_least(1),
        "max_test_rows": at_least(1),
    }


@dataclass
class TrainerSchema:
    """``trainer``: the Lightning Trainer arguments a run is most often given by hand."""

    max_epochs: int = 3
    min_epochs: int | None = None
    max_steps: int = -1
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int | None = 1
    precision: str = "32-true"
    rules: ClassVar[dict[str, Rule]] = {
        "max_epochs": (lambda v: v == -1 or v >= 1, "an integer >= 1 (or -1: no limit)"),
        "min_epochs": at_least(0),
        "max_steps": (lambda v: v == -1 or v >= 1, "an integer >= 1 (or -1: no limit)"),
        "accumulate_grad_batches": at_least(1),
        "gradient_clip_val": at_least(0, "a number"),
        "log_every_n_steps": at_least(1),
        "check_val_every_n_epoch": at_least(1),
        "precision": one_of("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true"),
    }


@dataclass
class ThresholdsSchema:
    """Per-label decision thresholds tuned on validation (multi-label)."""

    metric: str = "f1"
    default: float = 0.5
    #: fewest positive validation rows a label needs to be tuned (else it keeps `default`)
    min_positives: int = 10
    rules: ClassVar[dict[str, Rule]] = {
        "metric": THRESHOLD_METRIC,
        "default": between(0.0, 1.0),
        "min_positives": at_least(1),
    }


@dataclass
class RunSchema:
    """The top level of a run's config."""

    seed: int = 42
    float32_matmul_precision: str = "highest"
    attn_implementation: str = "sdpa"
    #: scikit-learn's OpenMP threads while fitting a baseline (null: no cap)
    sklearn_threads: int | None = 1
    rules: ClassVar[dict[str, Rule]] = {
        "sklearn_threads": at_least(1),
        "float32_matmul_precision": one_of("highest", "high", "medium"),
        "attn_implementation": one_of("sdpa", "eager"),
    }


#: config node -> schema; a node a config lacks is not checked
SCHEMAS: dict[str, type] = {
    "": RunSchema,
    "data": DataSchema,
    "model": ModelSchema,
    "trainer": TrainerSchema,
    "thresholds": ThresholdsSchema,
}


def register_schema(node: str, schema: type) -> type:
    """Add a schema for a config node, checked by ``check_config`` at the start of every run
    (and to Hydra's ConfigStore, group ``schema``)."""
    SCHEMAS[node] = schema
    return store_schema(node or "run", schema)


def store_schema(name: str, schema: type) -> type:
    """Put a schema in Hydra's ConfigStore (group ``schema``) without checking it for every
    run: for nodes whose schema depends on their target (a baseline's options)."""
    ConfigStore.instance().store(group="schema", name=name, node=schema)
    return schema


for _node, _schema in list(SCHEMAS.items()):
    register_schema(_node, _schema)


def _subset(node: Any, schema: type) -> dict[str, Any]:
    """The keys of ``node`` that ``schema`` declares, nested schemas included."""
    hints = get_type_hints(schema)
    out: dict[str, Any] = {}
    for item in fields(schema):
        if not isinstance(node, DictConfig) or item.name not in node:
            continue
        value = node[item.name]
        nested = next(
            (
                t
                for t in get_args(hints[item.name]) or (hints[item.name],)
                if isinstance(t, type) and is_dataclass(t)
            ),
            None,
        )
        if nested is not None and isinstance(value, DictConfig):
            value = _subset(value, nested)
        elif isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
        out[item.name] = value
    return out


def _check_rules(obj: Any, path: str) -> None:
    for item in fields(obj):
        value = getattr(obj, item.name)
        where = f"{path}.{item.name}" if path else item.name
        if is_dataclass(value):
            _check_rules(value, where)
            continue
        rule = getattr(obj, "rules", {}).get(item.name)
        if rule is not None and not rule[0](value):
            raise TextlabError(f"{where} must be {rule[1]}, got {value!r}")


def validated(node: Any, schema: type, path: str = "") -> Any:
    """``node`` checked against ``schema`` (types, then ranges); a bad value is one line
    naming its key. Returns the schema object."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), _subset(node, schema))
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        key = ".".join(p for p in (path, str(getattr(err, "full_key", "") or "")) if p)
        message = str(err).splitlines()[0]
        if " could not be converted to " in message:  # "Value 'x' of type 'str' could not ..."
            value = message.removeprefix("Value ").split(" of type ")[0]
            kind = message.rsplit(" to ", 1)[-1].strip()
            raise TextlabError(f"{key} must be {KINDS.get(kind, kind)}, got {value}") from None
        if " is not a valid bool " in message:  # "Value 'maybe' is not a valid bool (type str)"
            value = message.removeprefix("Value ").split(" is not ")[0]
            raise TextlabError(f"{key} must be true or false, got {value}") from None
        raise TextlabError(f"{key}: {message}") from None
    _check_rules(obj, path)
    return obj


def check_config(cfg: DictConfig) -> None:
    """Check every node of ``cfg`` that has a schema (``SCHEMAS``), in one line per problem."""
    for node, schema in SCHEMAS.items():
        if not node:
            validated(cfg, schema)
        elif isinstance(cfg.get(node), DictConfig):
            validated(cfg[node], schema, node)
