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

from src.data.context import context_first
from src.data.token_cache import file_sha256
from src.errors import TextlabError
from src.runs.folder import write_json
from src.tasks.formats import output_format, task_of_export
from src.tasks.output import DEFAULT, FIXED, TUNED, LabelSet, OutputFormat, threshold_option

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

    @property
    def task_options(self) -> dict[str, Any]:
        """The task's constructor options (folders from before ``task_options``: a tagger's
        scheme was a field of its own)."""
        if "task_options" in self.config:
            return dict(self.config["task_options"] or {})
        return {key: self.config[key] for key in ("scheme",) if key in self.config}

    @property
    def threshold_source(self) -> str | None:
        """``tuned`` (the run's thresholds.json) or ``default`` (0.5 for every label)."""
        if not self.thresholds:
            return None
        source = self.config.get("thresholds_source")
        if source in (TUNED, DEFAULT):
            return source
        return TUNED if self.thresholds.get("metric") else DEFAULT

    def labels(self, thresholds: Any = TUNED) -> LabelSet:
        """The labels and decision rule predictions use; ``thresholds``: ``tuned`` (the
        folder's) or one number for every label."""
        names = tuple(self.label_names)
        if not self.output.per_label_thresholds:
            return LabelSet(names, options=self.task_options)
        fixed = threshold_option(thresholds)
        if fixed is None:
            values, source = tuple(self.threshold_list or ()), self.threshold_source
        else:
            values, source = (fixed,) * len(names), FIXED
        return LabelSet(names, values, source, self.task_options)


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


#: where a run keeps its exports: ``<run>/export/<format>`` (``python -m src.export``'s default)
EXPORTS_DIR = "export"
FORMATS = ("onnx", "hf")


def export_folders(reference: str | Path | None, log_dir: str | Path = "logs") -> list[Path]:
    """The export folders a reference names: an export folder itself, or the exports of a run
    (its folder, a checkpoint in it, ``latest`` or ``latest:<task_name>``), ONNX first."""
    if reference is None or not str(reference).strip():
        raise TextlabError(
            "export_dir is required: an export folder (<run>/export/onnx), a run folder, or "
            "latest (the newest finished training run)"
        )
    text = str(reference)
    path = Path(text).expanduser()
    if (path / EXPORT_CONFIG).is_file():
        return [path]
    if path.is_dir() or path.is_file() or text.partition(":")[0] == "latest":
        from src.runs.loading import resolve_checkpoint, run_dir_of

        run_dir = path if path.is_dir() else run_dir_of(resolve_checkpoint(text, log_dir))
        found = [run_dir / EXPORTS_DIR / fmt for fmt in FORMATS]
        found = [folder for folder in found if (folder / EXPORT_CONFIG).is_file()]
        if found:
            return found
        raise TextlabError(
            f"{path if path.is_dir() else run_dir} is neither an export folder nor a run folder "
            f"with one under {EXPORTS_DIR}/; create it with `python -m src.export "
            f"ckpt_path={run_dir} format=onnx` (or format=hf)"
        )
    raise TextlabError(
        f"export folder {path} does not exist; create it with "
        "`python -m src.export ckpt_path=<run> format=onnx`, or pass a run folder or latest"
    )


class TextEncoder:
    """Texts -> ``input_ids`` and ``attention_mask`` int64 arrays ``[batch, longest]``, with a
    ``tokenizers`` tokenizer (the export's ``tokenizer.json``, or a run's fast tokenizer).

    Matches what training did: special tokens added, truncated to ``max_length`` (long texts
    are cut, never rejected), then padded to the batch's longest row.
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_token_id: int) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length)
        self.max_length = int(max_length)
        self.pad_token_id = int(pad_token_id)
        self._context_tokenizer: Tokenizer | None = None

    @classmethod
    def of(cls, folder: ExportFolder) -> TextEncoder:
        """The encoder an export folder describes."""
        tokenizer = Tokenizer.from_file(str(folder.path / TOKENIZER))
        return cls(tokenizer, folder.max_length, folder.config["pad_token_id"])

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def word_encodings(
        self,
        word_lists: Sequence[Sequence[str]],
        contexts: Sequence[Sequence[str]] | None = None,
    ) -> list[tuple[list[int], list[int | None]]]:
        """(token ids, word index of each token) for pre-split words (``is_split_into_words``
        in transformers' terms); with ``contexts`` (words per sentence), each sentence's
        context goes before it as training put it (``src.data.context.context_first``)."""
        encoded = self.tokenizer.encode_batch(
            [list(words) for words in word_lists], is_pretokenized=True, add_special_tokens=True
        )
        if contexts is None:
            return [(e.ids, e.word_ids) for e in encoded]
        if self._context_tokenizer is None:  # a context is cut to fit later, from its start
            self._context_tokenizer = Tokenizer.from_str(self.tokenizer.to_str())
            self._context_tokenizer.no_truncation()
        context_ids = self._context_tokenizer.encode_batch(
            [list(words) or [""] for words in contexts],
            is_pretokenized=True,
            add_special_tokens=False,
        )
        out = []
        for sentence, context in zip(encoded, context_ids, strict=True):
            mask = sentence.special_tokens_mask
            if not mask or not (mask[0] and mask[-1]):
                raise TextlabError(
                    "a context needs a tokenizer that wraps a sentence in [CLS] ... [SEP] "
                    "(BERT-style); send the texts without context"
                )
            ids, (word_ids,) = context_first(
                sentence.ids, context.ids, self.max_length, (sentence.word_ids, None)
            )
            out.append((ids, word_ids))
        return out

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


def write_tokenizer(out_dir: Path, tokenizer: Tokenizer, max_length: int, pad_id: int) -> Path:
    """``tokenizer.json`` set up as the model expects it, for any consumer: truncation to the
    model's ``max_length``, padding to the longest text of a batch (never to a fixed length:
    a consumer that builds the attention mask from the ids it gets must not see padding
    that a single text does not need)."""
    pad_token = tokenizer.id_to_token(pad_id)
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token)
    path = out_dir / TOKENIZER
    tokenizer.save(str(path))
    return path
