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
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)
from tokenizers import Encoding, Tokenizer

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
#: format=hf: the encoder's files, read by transformers under these names
HF_CONFIG = "config.json"
HF_WEIGHTS = "model.safetensors"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


def read_json(path: Path) -> Any:
    """A JSON file of an export folder, or a one-line error naming what to do."""
    if not path.is_file():
        raise TextlabError(
            f"{path} not found: export_dir must be a folder written by `python -m src.export`"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        reason = " ".join(str(err).split())[:200]
        raise TextlabError(f"cannot read {path}: {reason}; export the model again") from None


def write_manifest(out_dir: Path, about: dict[str, Any]) -> Path:
    """Hash every file under ``out_dir`` (except the manifest) into ``manifest.json``.

    Written last, so a folder with a manifest is complete; every file the loaders read is
    listed, and :func:`verify_folder` refuses a folder holding a file the manifest does not.
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


# -- what each JSON file of the folder may hold ------------------------------------------------
def _inside(name: str) -> str:
    """A file name relative to the folder that stays inside it (no absolute path, no ``..``)."""
    path = PurePosixPath(name)
    if not name.strip() or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise ValueError(f"{name[:80]!r} is not a path inside the export folder")
    return name


FileName = Annotated[StrictStr, AfterValidator(_inside)]
#: a threshold: a number in [0, 1] (a JSON string, NaN or infinity is refused)
Threshold = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]


class ExportConfigFile(BaseModel):
    """``export_config.json``: the keys the loaders read (others are kept, unread)."""

    model_config = ConfigDict(extra="allow")
    task: StrictStr
    task_name: StrictStr | None = None
    task_options: dict[str, Any] | None = None
    format: Literal["onnx", "hf"]
    label_names: list[StrictStr] = Field(min_length=1, max_length=100_000)
    max_length: StrictInt = Field(ge=2, le=1_000_000)
    context_sentences: StrictInt | None = Field(default=0, ge=0)
    pad_token_id: StrictInt = Field(ge=0)
    model_files: dict[StrictStr, FileName] = Field(min_length=1)
    dropout: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("label_names")
    @classmethod
    def _unique_names(cls, names: list[str]) -> list[str]:
        blank = [i for i, name in enumerate(names) if not name.strip()]
        if blank:
            raise ValueError(f"label names {blank[:5]} are empty")
        seen: set[str] = set()
        twice = [name for name in names if name in seen or seen.add(name)]  # type: ignore[func-returns-value]
        if twice:
            raise ValueError(f"label names must be unique; {sorted(set(twice))[:5]} repeat")
        return names


class ThresholdsFile(BaseModel):
    """``thresholds.json``: one threshold per label (the tuning's details are kept, unread)."""

    model_config = ConfigDict(extra="allow")
    thresholds: dict[StrictStr, Threshold]
    metric: StrictStr | None = None


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
    bytes: StrictInt = Field(ge=0)


class ManifestFile(BaseModel):
    """``manifest.json``: every file of the folder with its size and sha256."""

    model_config = ConfigDict(extra="allow")
    files: dict[FileName, ManifestEntry] = Field(min_length=1)


def _problems(err: ValidationError) -> str:
    """pydantic's errors as one short line: ``key.sub: message``."""
    parts = []
    for error in err.errors()[:3]:
        where = ".".join(str(p)[:40] for p in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg']}")
    more = f" (and {err.error_count() - 3} more)" if err.error_count() > 3 else ""
    return "; ".join(parts) + more


def read_checked(path: Path, schema: type[BaseModel]) -> dict[str, Any]:
    """A JSON file of the folder, checked against its schema: the parsed dict, or one line."""
    data = read_json(path)
    try:
        schema.model_validate(data)
    except ValidationError as err:
        raise TextlabError(
            f"{path} does not hold what textlab writes ({_problems(err)}); export the model again"
        ) from None
    return data


def read_export_config(folder: Path) -> dict[str, Any]:
    """``export_config.json``, checked (types, unique labels, paths inside the folder)."""
    config = read_checked(folder / EXPORT_CONFIG, ExportConfigFile)
    task_name_of(config)  # a task textlab knows
    if config["format"] == "hf" and config.get("dropout") is None:
        raise TextlabError(f"{folder / EXPORT_CONFIG} has no dropout; export the model again")
    return config


def files_read(config: dict[str, Any]) -> list[str]:
    """The files of a folder the loaders read (each must be in the manifest)."""
    names = [EXPORT_CONFIG, TOKENIZER]
    if output_format(task_name_of(config)).per_label_thresholds:
        names.append(THRESHOLDS)
    if config["format"] == "hf":  # transformers reads these by name
        names += [HF_CONFIG, HF_WEIGHTS, HEAD_FILE]
    else:
        names += list(config["model_files"].values())
    return list(dict.fromkeys(names))


def manifest_problems(export_dir: Path, required: Sequence[str] = ()) -> list[str]:
    """What differs between the folder and ``manifest.json`` (empty list: all good): listed
    files missing, outside the folder, of another size or sha256; ``required`` files (what
    the loaders read) not listed; files the manifest does not list."""
    manifest = read_checked(export_dir / MANIFEST, ManifestFile)["files"]
    root = export_dir.resolve()
    problems = [f"{name} is not listed" for name in required if name not in manifest]
    for name, entry in manifest.items():
        path = export_dir / name
        if not path.resolve().is_relative_to(root):
            problems.append(f"{name} points outside the folder")
        elif not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != entry["bytes"]:
            problems.append(
                f"{name} has {path.stat().st_size} bytes, not the {entry['bytes']} of {MANIFEST}"
            )
        elif file_sha256(path) != entry["sha256"]:
            problems.append(f"{name} has changed (sha256 differs from {MANIFEST})")
    listed = set(manifest) | {MANIFEST}
    for path in sorted(export_dir.rglob("*")):
        name = path.relative_to(export_dir).as_posix()
        if (path.is_file() or path.is_symlink()) and name not in listed:
            problems.append(f"{name} is not listed in {MANIFEST}")
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
    """Load and check an export folder as a whole: every JSON file against its schema, the
    thresholds against the labels, and (``verify``) every file the loaders read listed in
    the manifest with its size and sha256, every path inside the folder, nothing unlisted."""
    path = Path(export_dir).expanduser()
    if not path.is_dir():
        raise TextlabError(
            f"export folder {path} does not exist; create it with "
            "`python -m src.export ckpt_path=<run>/checkpoints/best.ckpt format=onnx`"
        )
    config = read_export_config(path)
    if verify:
        problems = manifest_problems(path, files_read(config))
        if problems:
            more = f" (+{len(problems) - 4} more)" if problems[4:] else ""
            shown = "; ".join(problems[:4]) + more
            raise TextlabError(
                f"export folder {path} does not check out: {shown}; export the model again"
            )
    uses_thresholds = output_format(task_name_of(config)).per_label_thresholds
    thresholds = read_checked(path / THRESHOLDS, ThresholdsFile) if uses_thresholds else {}
    if uses_thresholds:
        missing = [n for n in config["label_names"] if n not in thresholds["thresholds"]]
        if missing:
            raise TextlabError(
                f"{path / THRESHOLDS} has no threshold for labels {missing[:5]}; export again"
            )
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


#: characters of a text tokenised per token the model reads, at first: generous (English
#: averages about 4-5 characters a token); a text whose first ``max_length * CHARS_PER_TOKEN``
#: characters do not fill ``max_length`` tokens is read again with four times as many
CHARS_PER_TOKEN = 16


def word_end(text: str, chars: int) -> int:
    """The end of the last whole word within ``text[:chars]`` (``chars`` itself when the first
    word is longer): cutting there changes no token of the words kept."""
    end = chars
    while end > 0 and not text[end].isspace():
        end -= 1
    return end if end > 0 else chars


class TextEncoder:
    """Texts -> ``input_ids`` and ``attention_mask`` int64 arrays ``[batch, longest]``, with a
    ``tokenizers`` tokenizer (the export's ``tokenizer.json``, or a run's fast tokenizer).

    Matches what training did: special tokens added, truncated to ``max_length`` (long texts
    are cut, never rejected), then padded to the batch's longest row. Only the part of a text
    the model can read is tokenised (its first ``max_length * CHARS_PER_TOKEN`` characters,
    cut at a word's end, more while they give fewer than ``max_length`` tokens), so a 1 MB
    text costs what a ``max_length`` one does and gives the same tokens as the whole text.
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_token_id: int) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length)
        self.max_length = int(max_length)
        self.max_chars = self.max_length * CHARS_PER_TOKEN
        self.pad_token_id = int(pad_token_id)
        self._context_tokenizer: Tokenizer | None = None

    @classmethod
    def of(cls, folder: ExportFolder) -> TextEncoder:
        """The encoder an export folder describes."""
        path = folder.path / TOKENIZER
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # noqa: BLE001  (the library's parse errors have no one type)
            reason = " ".join(str(err).split())[:160]
            raise TextlabError(
                f"{path} is not a tokenizer the tokenizers library reads ({reason}); "
                "export the model again"
            ) from None
        return cls(tokenizer, folder.max_length, folder.config["pad_token_id"])

    def largest_id(self) -> int:
        """The largest token id this encoder can give: its vocabulary, the ids its
        post-processor adds (a crafted one may name any) and the padding id."""
        vocab = self.tokenizer.get_vocab(with_added_tokens=True).values()
        added = self.tokenizer.encode("a", add_special_tokens=True).ids
        return max([*vocab, *added, self.pad_token_id])

    def _read_parts(self, texts: Sequence[str]) -> list[Encoding]:
        """Each text's encoding, from the part of it the model reads."""
        encode = self.tokenizer.encode
        out = self.tokenizer.encode_batch(
            [text[: word_end(text, self.max_chars)] if len(text) > self.max_chars else text
             for text in texts],
            add_special_tokens=True,
        )  # fmt: skip
        for i, text in enumerate(texts):
            chars = self.max_chars
            while len(text) > chars and not out[i].overflowing:  # the cut lost tokens read
                chars *= 4
                out[i] = encode(text[: word_end(text, chars)] if len(text) > chars else text)
        return out

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._read_parts(texts)]

    def _words_read(self, words: Sequence[str], from_end: bool = False) -> list[Sequence[str]]:
        """The first words (``from_end``: the last) that hold ``max_chars`` characters, then
        4 times as many, ...: the candidates for the words the model reads, shortest first."""
        candidates: list[Sequence[str]] = []
        chars, total = self.max_chars, 0
        ordered = list(reversed(words)) if from_end else list(words)
        for count, word in enumerate(ordered, 1):
            total += len(word) + 1
            if total > chars:
                kept = ordered[:count]
                candidates.append(list(reversed(kept)) if from_end else kept)
                chars *= 4
        candidates.append(list(words))
        return candidates

    def _sentence(self, words: Sequence[str]) -> Encoding:
        for part in self._words_read(words):
            encoded = self.tokenizer.encode(part, is_pretokenized=True, add_special_tokens=True)
            if encoded.overflowing or len(part) == len(words):
                return encoded
        raise AssertionError("unreachable: the last candidate is every word")

    def _context(self, words: Sequence[str]) -> Encoding:
        assert self._context_tokenizer is not None
        for part in self._words_read(words, from_end=True):
            encoded = self._context_tokenizer.encode(
                list(part) or [""], is_pretokenized=True, add_special_tokens=False
            )
            if len(encoded.ids) >= self.max_length or len(part) == len(words):
                return encoded  # context_first keeps at most max_length tokens of its end
        raise AssertionError("unreachable: the last candidate is every word")

    def word_encodings(
        self,
        word_lists: Sequence[Sequence[str]],
        contexts: Sequence[Sequence[str]] | None = None,
    ) -> list[tuple[list[int], list[int | None]]]:
        """(token ids, word index of each token) for pre-split words (``is_split_into_words``
        in transformers' terms); with ``contexts`` (words per sentence), each sentence's
        context goes before it as training put it (``src.data.context.context_first``)."""
        encoded = [self._sentence(words) for words in word_lists]
        if contexts is None:
            return [(e.ids, e.word_ids) for e in encoded]
        if self._context_tokenizer is None:  # a context is cut to fit later, from its start
            self._context_tokenizer = Tokenizer.from_str(self.tokenizer.to_str())
            self._context_tokenizer.no_truncation()
        context_ids = [self._context(words) for words in contexts]
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
