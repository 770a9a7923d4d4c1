"""Predict on any backend: texts in, one prediction per text out (``src.tasks.formats``).

:class:`Predictor` is the backend-neutral part (input checks, tokenising, batching by length,
probabilities, the prediction JSON); a backend only says how a padded batch becomes logits.
:class:`OnnxPredictor` runs an export's ``model.onnx`` (or ``model.int8.onnx``) on onnxruntime
with numpy and the ``tokenizers`` library only: no torch import on this path, so a served or
scripted ONNX model never loads it. PyTorch backends live in ``src.deploy.torch_predictors``.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from src.deploy.folder import ExportFolder, TextEncoder
from src.errors import TextlabError
from src.tasks.output import TUNED, LabelSet, ModelInput, OutputFormat

#: padded tokens per model call (rows x longest row) on a CPU, past a call's first row:
#: measured on 16-text requests of Jigsaw comments, 2 cores, MiniLM: int8 245 texts/s at 256,
#: 223 at 512, 117 with 32-row batches; bf16 132, 130, 85
MAX_BATCH_TOKENS = 256
#: ONNX weights by backend name (``model_files`` keys of an export folder)
ONNX_VARIANTS = {"onnx-fp32": "fp32", "onnx-int8": "int8"}


def check_texts(texts: Sequence[Any]) -> list[str]:
    """The texts, or a one-line error naming the first ones that are not non-blank, valid
    Unicode strings (a lone surrogate such as ``"\\ud800"`` cannot be tokenised or printed)."""
    return _strings(texts, "texts", non_blank=True)


def check_contexts(
    contexts: Sequence[Any] | None, texts: int, output: OutputFormat, context_sentences: int = 1
) -> list[str] | None:
    """None, or one valid Unicode string per text (empty: no context) for a model that reads
    contexts (a tagger trained with ``data.context_sentences`` > 0); else a one-line error."""
    if contexts is None:
        return None
    output.check_contexts(contexts)
    if context_sentences < 1:
        raise TextlabError(
            "context is read by taggers trained with data.context_sentences > 0; this one was "
            "trained on sentences alone (context_sentences=0), so send the texts alone"
        )
    contexts = _strings(contexts, "contexts", non_blank=False)
    if len(contexts) != texts:
        raise TextlabError(
            f"{len(contexts)} contexts for {texts} texts; send one context per text "
            '("" for a text without one)'
        )
    return contexts


#: characters nobody sees: whitespace, control and format characters (zero-width space,
#: joiners, the byte-order mark, direction marks)
INVISIBLE = {"Cc", "Cf", "Zs", "Zl", "Zp"}


def is_blank(text: str) -> bool:
    """Whether a text has nothing to read: empty, or only whitespace and invisible characters."""
    return all(char.isspace() or unicodedata.category(char) in INVISIBLE for char in text)


def _strings(values: Sequence[Any], name: str, non_blank: bool) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TextlabError(f"{name} must be a list of strings, got {type(values).__name__}")
    not_text = [i for i, text in enumerate(values) if not isinstance(text, str)]
    if not_text:
        raise TextlabError(f"{name} {not_text[:10]} are not strings; send strings only")
    blank = [i for i, text in enumerate(values) if non_blank and is_blank(text)]
    if blank:
        raise TextlabError(
            f"{name} {blank[:10]} are empty or whitespace only (invisible characters such as "
            "zero-width spaces count as whitespace); send non-empty texts"
        )
    invalid = [i for i, text in enumerate(values) if not _valid_unicode(text)]
    if invalid:
        raise TextlabError(
            f"{name} {invalid[:10]} are not valid Unicode (a lone surrogate such as \\ud800); "
            "send UTF-8 text"
        )
    return list(values)


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Predictor(ABC):
    """Texts in, predictions out (``src.tasks.formats``: one JSON schema for every backend).

    Texts run through the model ``batch_size`` at a time, sorted by token length so a batch
    pads to similar lengths; results come back in the input order.
    """

    #: the backend, e.g. ``onnx-int8`` or ``pytorch-bf16``
    name: str = "predictor"
    #: why this backend runs (``backend=auto``: what the choice rests on)
    choice: str = "asked for"

    def __init__(
        self,
        output: OutputFormat,
        labels: LabelSet,
        encoder: TextEncoder,
        batch_size: int = 32,
        about: dict[str, Any] | None = None,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise TextlabError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.max_batch_tokens = max_batch_tokens
        self.output = output
        self.labels = labels
        self.encoder = encoder
        self.batch_size = batch_size
        #: what the model is (task, backbone, max_length, where it came from)
        self.about = dict(about or {})
        #: token ids from this one up are refused (422) before the model reads them: the
        #: model was checked to read every id below it (:meth:`check_model`); None: unchecked
        self.id_limit: int | None = None

    @property
    def context_sentences(self) -> int:
        """Sentences before each text the model was trained to read (0: the texts alone)."""
        return int(self.about.get("context_sentences") or 0)

    @property
    def task_name(self) -> str:
        return self.output.name

    @property
    def label_names(self) -> list[str]:
        return list(self.labels.names)

    @abstractmethod
    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """float32 logits of one padded batch (``[batch, labels]`` or ``[batch, seq, tags]``)."""

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices of the model calls: sorted by length, at most ``batch_size`` rows and, past
        the first row, at most ``max_batch_tokens`` padded tokens (rows x longest) each, so a
        long text does not pad many short ones (measured: with batches of 32, a 16-text request
        of Jigsaw comments ran at half the speed)."""
        order = np.argsort(np.asarray(lengths), kind="stable")
        calls: list[list[int]] = []
        current: list[int] = []
        for i in order:
            padded = (len(current) + 1) * lengths[i]  # sorted: this row is the longest
            full = len(current) >= self.batch_size or padded > self.max_batch_tokens
            if current and full:
                calls.append(current)
                current = []
            current.append(int(i))
        if current:
            calls.append(current)
        return calls

    def probabilities_of(self, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
        """Per input, its probabilities (``[labels]``, or ``[its tokens, tags]``)."""
        out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(inputs)
        for index in self.batches([len(given.ids) for given in inputs]):
            batch = self.encoder.pad([inputs[i].ids for i in index])
            self._check_ids(batch["input_ids"])
            logits = self.logits(batch["input_ids"], batch["attention_mask"])
            self._check_logits(logits, batch["input_ids"].shape)
            probs = self.output.probabilities(logits)
            for row, i in enumerate(index):
                out[i] = probs[row] if self.output.per_text else probs[row, : len(inputs[i].ids)]
        return out

    def _check_ids(self, input_ids: np.ndarray) -> None:
        if self.id_limit is not None and input_ids.size and int(input_ids.max()) >= self.id_limit:
            raise TextlabError(
                f"the tokenizer gave token id {int(input_ids.max())}, outside the "
                f"{self.id_limit} ids the model reads; this text cannot be predicted"
            )

    def _check_logits(self, logits: np.ndarray, shape: tuple[int, ...]) -> None:
        """Logits of the shape the task and labels say (a crafted model may give others)."""
        labels = len(self.labels.names)
        want = (shape[0], labels) if self.output.per_text else (*shape, labels)
        if tuple(np.shape(logits)) != want:
            raise TextlabError(
                f"the model gave logits of shape {tuple(np.shape(logits))}, not {want} "
                f"({labels} labels); export the model again"
            )

    def check_model(self, where: str | Path) -> None:
        """Refuse in one line a model that cannot read every id its tokenizer gives (the
        vocabulary, the special tokens, the padding id) or whose logits do not match its
        labels: one call on two padded rows holding the largest id, then a whole prediction.
        Afterwards ids beyond those checked are refused per request (:attr:`id_limit`)."""
        try:
            largest = self.encoder.largest_id()
            probe = self.encode(["a"])[0].ids
            batch = self.encoder.pad([[*probe[:-1], largest, probe[-1]], probe])
            logits = self.logits(batch["input_ids"], batch["attention_mask"])
            self._check_logits(logits, batch["input_ids"].shape)
            self.id_limit = largest + 1
            self.predict_unchecked(["a check"])
        except Exception as err:  # noqa: BLE001  (a crafted model fails in any library)
            reason = " ".join(str(err).split())[:240]
            raise TextlabError(
                f"export folder {where}: its model does not run on its own tokenizer's ids "
                f"({type(err).__name__}: {reason}); export the model again"
            ) from None

    def predict_probs(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[len(texts), labels]`` probabilities (sequence classifiers)."""
        if not self.output.per_text:
            raise TextlabError(f"a {self.task_name} model has probabilities per token; use predict")
        if not texts:
            return np.zeros((0, len(self.labels.names)), dtype=np.float32)
        probs = self.probabilities_of(self.output.inputs(self.encoder, texts))
        return np.stack(probs).astype(np.float32)

    def predict(
        self, texts: Sequence[str], contexts: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """One prediction per text, in the task's schema (``src.tasks.formats``); texts that
        are not non-empty, valid Unicode strings are refused in one line. ``contexts`` (token
        taggers): the text before each one, read but not tagged (for models trained with
        ``data.context_sentences``)."""
        texts = check_texts(texts)
        return self.predict_unchecked(texts, self.check_contexts(contexts, len(texts)))

    def check_contexts(self, contexts: Sequence[Any] | None, texts: int) -> list[str] | None:
        """None or one string per text, for a model trained to read contexts; else one line."""
        return check_contexts(contexts, texts, self.output, self.context_sentences)

    def encode(
        self, texts: Sequence[str], contexts: Sequence[str] | None = None
    ) -> list[ModelInput]:
        """What the model reads of each text (the part of it within ``max_length`` tokens)."""
        return self.output.inputs(self.encoder, texts, contexts)

    def finish(
        self, texts: Sequence[str], inputs: Sequence[ModelInput], probs: Sequence[np.ndarray]
    ) -> list[dict[str, Any]]:
        """The predictions (the task's JSON) of texts from their probabilities."""
        return self.output.predictions(texts, inputs, probs, self.labels)

    def predict_unchecked(
        self, texts: Sequence[str], contexts: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """:meth:`predict` for texts already checked (empty texts allowed)."""
        inputs = self.encode(texts, contexts)
        return self.finish(texts, inputs, self.probabilities_of(inputs))


def folder_about(folder: ExportFolder) -> dict[str, Any]:
    """What an export folder says about its model (for ``/health`` and the service's docs)."""
    config = folder.config
    return {
        "task": folder.task_name,
        "backbone": config.get("backbone"),
        "pooling": config.get("pooling"),
        "max_length": folder.max_length,
        "context_sentences": int(config.get("context_sentences") or 0),
        "threshold_metric": folder.thresholds.get("metric"),
        "source": str(folder.path),
    }


class OnnxPredictor(Predictor):
    """An export's ONNX model on onnxruntime; ``variant``: ``fp32`` (``model.onnx``) or
    ``int8`` (``model.int8.onnx``, from ``quantize=true``); ``threads``: intra-op threads (the
    cores this process may use); ``spin``: let idle threads spin (lower latency on cores the
    model has to itself, stalls on shared ones: off by default)."""

    def __init__(
        self,
        folder: ExportFolder,
        variant: str = "fp32",
        batch_size: int = 32,
        thresholds: Any = TUNED,
        threads: int | None = None,
        spin: bool = False,
    ) -> None:
        import onnxruntime as ort

        files = folder.config.get("model_files", {})
        if folder.format != "onnx" or variant not in files:
            raise TextlabError(
                f"{folder.path} has no '{variant}' ONNX model (it has {sorted(files)}); "
                + (
                    "export with quantize=true for int8"
                    if folder.format == "onnx"
                    else "export with format=onnx"
                )
            )
        super().__init__(
            folder.output, folder.labels(thresholds), TextEncoder.of(folder), batch_size,
            folder_about(folder),
        )  # fmt: skip
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or physical_cores()
        if not spin:  # idle threads sleep: spinning stalls on cores shared with other work
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [p for p in ("CUDAExecutionProvider",) if p in ort.get_available_providers()]
        model_file = folder.path / files[variant]
        try:
            self.session = ort.InferenceSession(
                str(model_file), options, providers=[*providers, "CPUExecutionProvider"]
            )
        except Exception as err:  # noqa: BLE001  (onnxruntime raises its own, untyped errors)
            reason = " ".join(str(err).split())[:200]
            raise TextlabError(
                f"{model_file} is not an ONNX model onnxruntime can run ({reason}); "
                "export the model again"
            ) from None
        names = sorted(given.name for given in self.session.get_inputs())
        outputs = [given.name for given in self.session.get_outputs()]
        if names != ["attention_mask", "input_ids"] or "logits" not in outputs:
            raise TextlabError(
                f"{model_file} maps {names} to {outputs[:3]}, not input_ids and attention_mask "
                "to logits; export the model again"
            )
        self.name = f"onnx-{variant}"

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self.name == "onnx-int8":  # a text's scores must not depend on its batch-mates
            return row_by_row(self._run, input_ids, attention_mask)
        return self._run(input_ids, attention_mask)

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return self.session.run(["logits"], feeds)[0]


def row_by_row(
    run: Callable[[np.ndarray, np.ndarray], np.ndarray],
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
) -> np.ndarray:
    """Each row alone, unpadded, then padded back together: a text's scores cannot depend on
    its batch-mates. Dynamic int8 quantises a layer's activations with one scale per call, so
    batched, a text's probabilities moved with the other texts (MiniLM: up to 1.3e-3,
    docs/serving.md)."""
    rows = []
    for ids, mask in zip(input_ids, attention_mask, strict=True):
        length = max(1, int(mask.sum()))
        rows.append(run(ids[None, :length], mask[None, :length])[0])
    if rows[0].ndim == 1:  # one row of logits per text
        return np.stack(rows)
    out = np.zeros((len(rows), input_ids.shape[1], rows[0].shape[-1]), dtype=rows[0].dtype)
    for i, row in enumerate(rows):  # per-token logits: padded positions stay 0
        out[i, : len(row)] = row
    return out


def physical_cores() -> int:
    """The cores this process may run on (onnxruntime's own default counts the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# -- texts from files and stdin -------------------------------------------------------------------
def read_texts(path: str | Path) -> list[str]:
    """One text per line (blank lines skipped), UTF-8; ``-`` reads stdin; a clear error when
    unreadable."""
    if str(path) == "-":
        return texts_from_stream(sys.stdin, "stdin")
    path = Path(path).expanduser()
    if not path.is_file():
        raise TextlabError(f"input_file {path} not found; pass a text file with one text per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise TextlabError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from err
    except OSError as err:
        raise TextlabError(f"cannot read input_file {path}: {err.strerror}") from err
    return _non_blank(lines, f"input_file {path}")


def texts_from_stream(stream: TextIO, name: str) -> list[str]:
    """The non-blank lines of a text stream (stdin), decoded as UTF-8."""
    raw = getattr(stream, "buffer", None)
    try:
        data = raw.read().decode("utf-8") if raw is not None else stream.read()
    except UnicodeDecodeError as err:
        raise TextlabError(f"{name}: not UTF-8 text ({err.reason}); send UTF-8") from err
    return _non_blank(data.splitlines(), name)


def _non_blank(lines: Iterable[str], name: str) -> list[str]:
    texts = [line for line in lines if not is_blank(line)]
    if not texts:
        raise TextlabError(f"{name} has no non-blank line to predict")
    return texts


def contexts_from_lines(texts: Sequence[str], lines: int) -> list[str] | None:
    """Each text's context when the texts are a document's sentences in order: the ``lines``
    texts before it, joined (None for 0: every text alone)."""
    if not lines:
        return None
    return [" ".join(texts[max(0, i - lines) : i]) for i in range(len(texts))]


def texts_of(
    text: Any = None,
    input_file: Any = None,
    texts: Sequence[Any] | None = None,
    stdin: TextIO | None = None,
) -> list[str]:
    """What a command line asks to predict: ``text=...`` and/or ``texts=[...]``, or
    ``input_file=`` (``-``: stdin), or, with none of them, the lines piped to stdin (texts with
    quotes need no Hydra quoting there)."""
    given = ([] if text is None else [text]) + list(texts or [])
    if given and input_file is not None:
        raise TextlabError("pass text=/texts= or input_file=<file, one text per line>, not both")
    if input_file is not None:
        return check_texts(read_texts(input_file))
    if given:
        return check_texts([t if isinstance(t, str) else str(t) for t in given])
    stdin = sys.stdin if stdin is None else stdin
    if stdin is None or stdin.closed or stdin.isatty():
        raise TextlabError(
            'nothing to predict: pass text="...", input_file=<file, one text per line>, or pipe '
            'texts to stdin (echo "I don\'t like you" | python -m ...)'
        )
    return check_texts(texts_from_stream(stdin, "stdin"))
