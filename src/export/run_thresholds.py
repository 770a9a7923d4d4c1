"""The tuned per-label thresholds of a run (``<run>/thresholds.json``), or 0.5 for every label.

The file is written by the threshold tuning at the end of training (issue 4):
``{"metric": "f1", "default": 0.5, "thresholds": {label: t}, "val_scores": {label: s}}``;
it is checked exactly as ``src.eval`` checks it, then copied into the export unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from src.pipeline.evaluation import THRESHOLDS_FILE, read_thresholds

DEFAULT_THRESHOLD = 0.5


def run_thresholds(run_dir: Path, label_names: list[str]) -> tuple[dict[str, Any], str]:
    """(thresholds.json content for the export, a note saying where it came from)."""
    path = run_dir / THRESHOLDS_FILE
    if not path.is_file():
        payload = {
            "metric": None,
            "default": DEFAULT_THRESHOLD,
            "thresholds": dict.fromkeys(label_names, DEFAULT_THRESHOLD),
            "val_scores": {},
        }
        return payload, f"default {DEFAULT_THRESHOLD} for every label ({path} not found)"
    read_thresholds(run_dir, label_names)  # raises a one-line TextlabError on a bad file
    return json.loads(path.read_text()), f"tuned: {path}"
