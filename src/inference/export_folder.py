"""Read an export folder: its description, label names, tuned thresholds and manifest check.

The folder is self-contained (written by ``python -m src.export``); this module is the one place
that knows its layout, and it imports neither torch nor transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.utils.errors import TextlabError
from src.utils.run_info import file_sha256

EXPORT_CONFIG = "export_config.json"
THRESHOLDS = "thresholds.json"
MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.json"


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise TextlabError(
            f"{path} not found: export_dir must be a folder written by `python -m src.export`"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise TextlabError(f"cannot read {path}: {err}; export the model again") from err


def manifest_problems(export_dir: Path) -> list[str]:
    """Files whose sha256 or presence differs from ``manifest.json`` (empty list: all good)."""
    manifest = read_json(export_dir / MANIFEST)
    problems = []
    for name, entry in manifest.get("files", {}).items():
        path = export_dir / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif file_sha256(path) != entry["sha256"]:
            problems.append(f"{name} has changed (sha256 differs from {MANIFEST})")
    return problems


@dataclass(frozen=True)
class ExportFolder:
    """What an inference backend needs to know about an export folder."""

    path: Path
    config: dict[str, Any]
    thresholds: dict[str, Any]

    @property
    def label_names(self) -> list[str]:
        return list(self.config["label_names"])

    @property
    def threshold_list(self) -> list[float]:
        """One threshold per label, in label order (``prob >= threshold`` predicts the label)."""
        per_label = self.thresholds["thresholds"]
        return [float(per_label[name]) for name in self.label_names]

    @property
    def max_length(self) -> int:
        return int(self.config["max_length"])

    @property
    def format(self) -> str:
        return str(self.config["format"])


def open_export_folder(export_dir: str | Path, verify: bool = True) -> ExportFolder:
    """Load and check an export folder; ``verify`` re-hashes every file against the manifest."""
    path = Path(export_dir).expanduser()
    if not path.is_dir():
        raise TextlabError(
            f"export folder {path} does not exist; create it with "
            "`python -m src.export ckpt_path=<run>/checkpoints/best.ckpt format=onnx`"
        )
    config = read_json(path / EXPORT_CONFIG)
    thresholds = read_json(path / THRESHOLDS)
    if verify:
        problems = manifest_problems(path)
        if problems:
            raise TextlabError(f"export folder {path} is damaged: {'; '.join(problems)}")
    missing = [name for name in config["label_names"] if name not in thresholds["thresholds"]]
    if missing:
        raise TextlabError(f"{path / THRESHOLDS} has no threshold for labels {missing}")
    return ExportFolder(path, config, thresholds)
