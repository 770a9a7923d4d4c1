"""Case 3: data preparation with an empty token cache (cold) vs a filled one (cached).

A hit loads each prepared split (rows and token ids) from one file without reading the CSV
files; a miss reads, validates and tokenises them. Both the whole preparation and the
tokenisation step alone are reported.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import BenchSettings, compose_train_config, use_threads
from src.config import build_datamodule
from src.data import token_cache


def token_cache_dir(settings: BenchSettings) -> Path:
    return Path(settings.work_dir) / "token_cache_bench"


def tokenization_case(settings: BenchSettings, mode: str) -> dict[str, Any]:
    """``cold`` empties the bench's own cache folder first; ``cached`` reuses what cold wrote."""
    use_threads(settings.threads)
    cache = token_cache_dir(settings)
    if mode == "cold":
        shutil.rmtree(cache, ignore_errors=True)
    cfg = compose_train_config(
        settings, f"data.max_length={settings.padding_max_length}", f"data.cache_dir={cache}"
    )
    datamodule = build_datamodule(cfg.data)
    token_seconds = 0.0
    original = token_cache.tokenize

    def timed_tokenize(*args, **kwargs):
        nonlocal token_seconds
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            token_seconds += time.perf_counter() - start

    token_cache.tokenize = timed_tokenize
    try:
        start = time.perf_counter()
        datamodule.prepare_data()
        seconds = time.perf_counter() - start
    finally:
        token_cache.tokenize = original
    hits = datamodule.cache_hits
    if (mode == "cached") != all(hits.values()):
        raise RuntimeError(f"{mode} run saw cache hits {hits}; is the cache folder shared?")
    rows = sum(len(datamodule.rows(split).texts) for split in hits)
    return {
        "prepare_data_s": seconds,
        "tokenize_s": token_seconds,
        "rows": rows,
        "max_length": settings.padding_max_length,
        "cache_hits": hits,
    }
