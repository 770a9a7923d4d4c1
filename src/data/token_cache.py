"""Tokenise a text column once and keep the token ids on disk.

Tokenising the full Jigsaw train set takes long enough to matter when it is repeated for
every run of a sweep; the ids only depend on the tokenizer, max_length and the data, so
they are cached under a key made of exactly those.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from src.utils.errors import TextlabError

log = logging.getLogger(__name__)


@dataclass
class CachedTokens:
    """Token ids per text, whether they came from the cache, and the cache file."""

    input_ids: list[list[int]]
    cache_hit: bool
    path: Path


def tokenizer_identity(tokenizer) -> str:
    """The tokenizer's full definition (vocabulary, normaliser, special tokens), as JSON.

    Truncation and padding are dropped: they are call-time state that the tokenizer
    remembers from its last call, not part of what it is.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TextlabError(
            f"The token cache needs a fast (Rust) Hugging Face tokenizer, got "
            f"{type(tokenizer).__name__}; load it with AutoTokenizer.from_pretrained(path)."
        )
    spec = json.loads(backend.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return json.dumps(spec, sort_keys=True)


def cache_key(tokenizer, max_length: int, data_hash: str, tag: str) -> str:
    """sha256 over everything the token ids depend on."""
    digest = hashlib.sha256()
    for part in (tokenizer_identity(tokenizer), str(max_length), data_hash, tag):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _tokenize(texts: Sequence[str], tokenizer, max_length: int, batch_size: int) -> list[list[int]]:
    ids: list[list[int]] = []
    with tqdm(total=len(texts), desc="Tokenising", unit="text") as bar:
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            encoded = tokenizer(
                batch,
                truncation=True,
                max_length=max_length,
                padding=False,
                add_special_tokens=True,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            ids.extend(encoded["input_ids"])
            bar.update(len(batch))
    return ids


def _save(path: Path, input_ids: list[list[int]]) -> None:
    """Write atomically: a killed run leaves a stray .tmp file, never a half-written cache."""
    lengths = np.fromiter((len(x) for x in input_ids), dtype=np.int64, count=len(input_ids))
    flat = np.fromiter((t for x in input_ids for t in x), dtype=np.int32, count=int(lengths.sum()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, flat=flat, lengths=lengths)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path, expected_rows: int) -> list[list[int]] | None:
    try:
        with np.load(path) as data:
            flat, lengths = data["flat"], data["lengths"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("Ignoring unreadable token cache %s (%s); tokenising again.", path, err)
        return None
    if len(lengths) != expected_rows or int(lengths.sum()) != len(flat):
        log.warning("Token cache %s does not match the data; tokenising again.", path)
        return None
    if expected_rows == 0:
        return []
    return [chunk.tolist() for chunk in np.split(flat, np.cumsum(lengths)[:-1])]


def tokenize_cached(
    texts: Sequence[str],
    tokenizer,
    max_length: int,
    cache_dir: str | Path,
    data_hash: str,
    tag: str,
    batch_size: int = 1000,
) -> CachedTokens:
    """Token ids (special tokens added, truncated to max_length, unpadded) for each text.

    `data_hash` is the content hash of the data file(s) the texts came from and `tag` names
    the column / split / row selection; with the tokenizer and max_length they form the key.
    """
    key = cache_key(tokenizer, max_length, data_hash, tag)
    path = Path(cache_dir).expanduser() / f"tokens-{key}.npz"
    if path.is_file():
        cached = _load(path, len(texts))
        if cached is not None:
            log.info("Token cache hit: %s", path)
            return CachedTokens(cached, True, path)
    log.info("Token cache miss: tokenising %d texts into %s", len(texts), path)
    input_ids = _tokenize(texts, tokenizer, max_length, batch_size)
    _save(path, input_ids)
    return CachedTokens(input_ids, False, path)
