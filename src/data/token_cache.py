"""Keep each prepared split (rows as read and validated, plus their token ids) on disk.

Reading and validating the CSV files and tokenising them depend only on the data, the
tokenizer, max_length and the row selection, so a sweep's second run (and every run after)
loads the split from one file instead of parsing and tokenising again. The key is content-based
(a sha256 of the data files, not their timestamps), so a copied or touched file still hits and
an edited one misses. The cache is only a speed-up: a cache folder that cannot be written
(read-only, full) costs a warning, not the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from src.errors import TextlabError

log = logging.getLogger(__name__)

#: what precedes the definition in `Tokenizer.to_str()`: version, truncation, padding
_DEFINITION_START = ',"added_tokens":'


class LabelledTexts(NamedTuple):
    """Rows as read: texts, a [N, L] label matrix (-1 = unscored) and row ids."""

    texts: list[str]
    labels: np.ndarray
    ids: list[str]


@dataclass
class CachedSplit:
    """A prepared split, whether it came from the cache, and the cache file."""

    rows: LabelledTexts
    input_ids: list[list[int]]
    cache_hit: bool
    path: Path


def tokenizer_identity(tokenizer) -> str:
    """sha256 of the tokenizer's full definition (vocabulary, normaliser, special tokens).

    Truncation and padding are left out: they are call-time state that the tokenizer remembers
    from its last call, not part of what it is. The serialised tokenizer starts with them, so
    the hash covers the rest of the string; re-serialising a 30k-word vocabulary without them
    would cost more than loading a cached split.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TextlabError(
            f"The token cache needs a fast (Rust) Hugging Face tokenizer, got "
            f"{type(tokenizer).__name__}; load it with AutoTokenizer.from_pretrained(path)."
        )
    text = backend.to_str()
    head, found, definition = text.partition(_DEFINITION_START)
    if not found or not head.startswith('{"version":'):  # another layout: normalise the JSON
        spec = json.loads(text)
        spec.pop("truncation", None)
        spec.pop("padding", None)
        definition = json.dumps(spec, sort_keys=True)
    return hashlib.sha256(definition.encode("utf-8")).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file, read in chunks so large data files don't fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_key(tokenizer_id: str, max_length: int, data_hash: str, tag: str) -> str:
    """sha256 over everything a prepared split depends on."""
    digest = hashlib.sha256()
    for part in (tokenizer_id, str(max_length), data_hash, tag):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def tokenize(texts: Sequence[str], tokenizer, max_length: int, batch_size: int = 1000):
    """Token ids per text: special tokens added, truncated to max_length, unpadded."""
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


def _ragged(chunks: Sequence[Sequence[int]] | Sequence[bytes], dtype) -> dict[str, np.ndarray]:
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    if dtype is np.uint8:
        flat = np.frombuffer(b"".join(chunks), dtype=np.uint8)  # type: ignore[arg-type]
    else:
        flat = np.fromiter((t for c in chunks for t in c), dtype=dtype, count=int(lengths.sum()))
    return {"flat": flat, "lengths": lengths}


def _split_ragged(flat: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    if len(lengths) == 0:
        return []
    if int(lengths.sum()) != len(flat):
        raise ValueError("lengths do not add up to the stored values")
    return np.split(flat, np.cumsum(lengths)[:-1])


def _save(path: Path, rows: LabelledTexts, input_ids: list[list[int]]) -> None:
    """Write atomically: a killed run leaves a stray .tmp file, never a half-written cache."""
    arrays: dict[str, np.ndarray] = {"labels": np.asarray(rows.labels, dtype=np.float32)}
    parts = {
        "tokens": _ragged(input_ids, np.int32),
        "texts": _ragged([t.encode("utf-8") for t in rows.texts], np.uint8),
        "ids": _ragged([i.encode("utf-8") for i in rows.ids], np.uint8),
    }
    for name, part in parts.items():
        arrays.update({f"{name}_{key}": value for key, value in part.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> tuple[LabelledTexts, list[list[int]]] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            labels = data["labels"]
            tokens = _split_ragged(data["tokens_flat"], data["tokens_lengths"])
            texts = _split_ragged(data["texts_flat"], data["texts_lengths"])
            ids = _split_ragged(data["ids_flat"], data["ids_lengths"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("Ignoring unreadable token cache %s (%s); preparing it again.", path, err)
        return None
    if not len(labels) == len(tokens) == len(texts) == len(ids):
        log.warning("Token cache %s is inconsistent; preparing the split again.", path)
        return None
    decode = lambda chunks: [c.tobytes().decode("utf-8") for c in chunks]  # noqa: E731
    return LabelledTexts(decode(texts), labels, decode(ids)), [c.tolist() for c in tokens]


def prepare_cached(
    read_rows: Callable[[], LabelledTexts],
    tokenizer,
    max_length: int,
    cache_dir: str | Path,
    key: str,
) -> CachedSplit:
    """The split from ``cache_dir`` under ``key`` (see `cache_key`), else ``read_rows()`` (which
    reads and validates the files) tokenised and stored there."""
    path = Path(cache_dir).expanduser() / f"split-{key}.npz"
    try:
        present = path.is_file()
    except OSError:  # a cache folder we may not even look into: a miss
        present = False
    if present:
        cached = _load(path)
        if cached is not None:
            log.info("Token cache hit: %s", path)
            return CachedSplit(cached[0], cached[1], True, path)
    rows = read_rows()
    log.info("Token cache miss: tokenising %d texts into %s", len(rows.texts), path)
    input_ids = tokenize(rows.texts, tokenizer, max_length)
    try:
        _save(path, rows, input_ids)
    except OSError as err:  # read-only, full, or not a folder: the run goes on without it
        log.warning(
            "Cannot write the token cache %s (%s); going on without it: the next run "
            "tokenises again. Set paths.cache_dir to a writable folder to keep it.",
            path,
            err.strerror or err,
        )
    return CachedSplit(rows, input_ids, False, path)
