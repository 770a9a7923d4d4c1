"""Build objects from ``_target_`` config nodes, keeping user-facing errors readable."""

from __future__ import annotations

from typing import Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from src.utils.errors import TextlabError


def _user_error_in(error: BaseException) -> TextlabError | None:
    while error is not None:
        if isinstance(error, TextlabError):
            return error
        error = error.__cause__ or error.__context__
    return None


def build(node: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, but a TextlabError raised by a target comes out as itself
    (Hydra would wrap it in a multi-line InstantiationException with a traceback)."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as err:
        user_error = _user_error_in(err)
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


#: data-config keys that describe the task for the rest of the pipeline, not constructor args
DATA_DESCRIPTION_KEYS = ("task", "objective")


def build_datamodule(node: DictConfig, **kwargs: Any) -> Any:
    """Build a DataModule from a data config, leaving out its ``task``/``objective`` keys."""
    args = OmegaConf.to_container(node, resolve=True)
    return build({k: v for k, v in args.items() if k not in DATA_DESCRIPTION_KEYS}, **kwargs)
