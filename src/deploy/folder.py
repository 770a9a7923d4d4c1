"""The export folder: its layout, reading it back, checking it, and the tokenizer it ships.

The folder is self-contained (written by ``python -m src.export``): the model files, the
tokenizer files, ``export_config.json`` (task, label names, pooling, max_length, pad id, model
files), ``thresholds.json`` (tasks that cut at thresholds), optionally ``quantization.json``
and, written last, ``manifest.json`` (sha256 and size of every file). This module is the one
place that knows that layout; it imports neither torch nor transformers, so the ONNX path
never does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from src.errors import TextlabError
from src.runs.files import file_sha256, write_json
from src.tasks.formats import OutputFormat, output_format, task_of_export

EXPORT_CONFIG = "export_config.json"
THRESHOLDS = "thresholds.json"
MANIFEST = "manifest.json"
QUANTIZATION = "quantization.json"
TOKENIZER = "tokenizer.json"
#: format=hf: everything of the model but its encoder (head and pooler weights)
HEAD_FILE = "head.safetensors"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


def read_json(path: Path) -> Any:
    """A JSON file of an export folder, or a one-line error naming what to do."""
    if not path.is_file():
        raise TextlabError(
            f"{path} not found: export_dir must be a folder written by `python -m src.export`"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise TextlabError(f"cannot read {path}: {err}; export the model again") from err


def write_manifest(out_dir: Path, about: dict[str, Any]) -> Path:
    """Hash every file under ``out_dir`` (except the manifest) into ``manifest.json``.

    Written last, so a folder with a manifest is complete.
    """
    files = {
        path.relative_to(out_dir).as_posix(): {
            "sha256": file_sha256(path),
            "bytes": path.stat().st_size,
        }
        for path in sorted(out_dir.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    return write_json(out_dir / MANIFEST, {**about, "files": files})


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


def task_name_of(config: dict[str, Any]) -> str:
    """The task an export config describes (folders from before ``task_name``: by ``task``)."""
    return str(config.get("task_name") or task_of_export(config["task"]))


@dataclass(frozen=True)
class ExportFolder:
    """What an inference backend needs to know about an export folder."""

    path: Path
    config: dict[str, Any]
    #: ``thresholds.json`` (empty for tasks without thresholds)
    thresholds: dict[str, Any]

    @property
    def task_name(self) -> str:
        return task_name_of(self.config)

    @property
    def output(self) -> OutputFormat:
        """How the model's logits read (probabilities, decisions)."""
        return output_format(self.task_name)

    @property
    def label_names(self) -> list[str]:
        return list(self.config["label_names"])

    @property
    def threshold_list(self) -> list[float] | None:
        """One threshold per label, in label order (``prob >= threshold`` predicts the label);
        None for tasks without thresholds."""
        if not self.thresholds:
            return None
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
    uses_thresholds = output_format(task_name_of(config)).per_label_thresholds
    thresholds = read_json(path / THRESHOLDS) if uses_thresholds else {}
    if verify:
        problems = manifest_problems(path)
        if problems:
            raise TextlabError(f"export folder {path} is damaged: {'; '.join(problems)}")
    if uses_thresholds:
        missing = [n for n in config["label_names"] if n not in thresholds["thresholds"]]
        if missing:
            raise TextlabError(f"{path / THRESHOLDS} has no threshold for labels {missing}")
    return ExportFolder(path, config, thresholds)


class TextEncoder:
    """Texts -> ``input_ids`` and ``attention_mask`` int64 arrays ``[batch, longest]``, with
    the export's ``tokenizer.json`` (Rust ``tokenizers``, no transformers).

    Matches what training did: special tokens added, truncated to ``max_length`` (long texts
    are cut, never rejected), then padded to the batch's longest row.
    """

    def __init__(self, tokenizer_file: str | Path, max_length: int, pad_token_id: int) -> None:
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length)
        self.pad_token_id = int(pad_token_id)

    @classmethod
    def of(cls, folder: ExportFolder) -> TextEncoder:
        """The encoder an export folder describes."""
        return cls(folder.path / TOKENIZER, folder.max_length, folder.config["pad_token_id"])

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.pad(self.token_ids(texts))

    def pad(self, rows: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Right-pad token id rows to the longest one."""
        width = max(len(row) for row in rows)
        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}
