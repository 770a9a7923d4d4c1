"""Predict with PyTorch: from a ``format=hf`` export, or from a run's checkpoint.

:class:`TorchPredictor` rebuilds the training-time model from an HF export (the eager baseline
the ONNX predictor is measured against). :class:`CheckpointPredictor` (``python -m
src.predict``) rebuilds it from the run folder's ``config.yaml`` instead, so it needs no export
step and serves every task: each label's probability and its thresholded labels (multi-label:
the run's tuned ``thresholds.json`` when present, else 0.5, and the output says which), the
softmax probabilities and the arg-max class (multi-class), or word-level spans with scores
(token tagging, see :func:`predict_token_spans`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.config import build
from src.data.tagging import first_subtoken_labels
from src.deploy.folder import EXPORT_CONFIG, HEAD_FILE, ExportFolder, read_json, task_name_of
from src.deploy.predictors import Predictor
from src.errors import TextlabError
from src.models.module import EncoderModule, PooledClassifier, TokenTagger
from src.runs.loading import load_run, resolve_checkpoint
from src.tasks import task_class
from src.tasks.base import TOKENS
from src.tasks.formats import output_format

#: the model class for each kind of task output (one row per text, or per sub-token)
MODELS: dict[str, type[EncoderModule]] = {
    cls.output: cls for cls in (PooledClassifier, TokenTagger)
}
ENCODER_PREFIX = "encoder."
#: a head.safetensors of a folder that predates ``task_name`` holds the head's weights only
LEGACY_HEAD_PREFIX = "head."


# -- format=hf exports ------------------------------------------------------------------------
def non_encoder_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight but the encoder's (head, pooler, persistent loss buffers): what
    ``head.safetensors`` holds next to the HF encoder folder."""
    return {
        name: tensor.detach().contiguous()
        for name, tensor in model.state_dict().items()
        if not name.startswith(ENCODER_PREFIX)
    }


def _task_options(config: dict[str, Any]) -> dict[str, Any]:
    """The task's constructor options (folders from before ``task_options``: a tagger's
    scheme was a field of its own)."""
    if "task_options" in config:
        return dict(config["task_options"])
    return {key: config[key] for key in ("scheme",) if key in config}


def load_hf_model(export_dir: str | Path) -> EncoderModule:
    """The exported model (pooled classifier or token tagger) in eval mode, rebuilt from an HF
    export: no Hydra config or checkpoint needed."""
    from safetensors.torch import load_file
    from transformers import AutoModel

    export_dir = Path(export_dir)
    config = read_json(export_dir / EXPORT_CONFIG)
    task = task_class(task_name_of(config))(**_task_options(config))
    options: dict[str, Any] = {"dropout": config["dropout"]}
    if config.get("pooling") is not None:
        options.update(pooling=config["pooling"], pooling_layers=config.get("pooling_layers", 4))
    encoder = AutoModel.from_pretrained(export_dir)
    model = MODELS[task.output](encoder, task, list(config["label_names"]), **options)
    state = load_file(str(export_dir / HEAD_FILE))
    if "task_name" not in config:
        state = {LEGACY_HEAD_PREFIX + name: tensor for name, tensor in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.startswith(ENCODER_PREFIX)]
    if missing or unexpected:
        raise TextlabError(
            f"{export_dir / HEAD_FILE} does not fit the model of {EXPORT_CONFIG} (missing "
            f"{missing[:3]}, unexpected {unexpected[:3]}); export the model again"
        )
    return model.eval().requires_grad_(False).to(torch.float32)


class TorchPredictor(Predictor):
    """An HF export rebuilt as the training-time model, in PyTorch eager mode."""

    def __init__(self, folder: ExportFolder, batch_size: int = 32) -> None:
        super().__init__(folder, batch_size)
        self.model = load_hf_model(folder.path)
        self.name = "pytorch-eager"

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        return out.float().numpy()


# -- a run's checkpoint -------------------------------------------------------------------------
def autocast_for(
    precision: str | int | None, device: torch.device
) -> contextlib.AbstractContextManager:
    """The autocast Lightning uses for this precision (none for 32-bit), so predictions match
    what the run measured."""
    precision = str(precision)
    if precision.startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision.startswith("16") and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


class CheckpointPredictor:
    """Texts in, one result dict per text out (see the module docstring for its keys).

    Args:
        ckpt_path: a checkpoint, a run folder, or ``latest`` (``src.runs.loading``).
        thresholds: tasks with thresholds: ``tuned`` (the run's, else 0.5) or one number.
        batch_size: texts per model call.
    """

    def __init__(
        self, ckpt_path: str | Path, thresholds: Any = "tuned", batch_size: int = 32
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise TextlabError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        run = load_run(resolve_checkpoint(ckpt_path))
        self.model = run.model.eval()
        self.task = self.model.task
        self.output = output_format(self.task.name)
        self.label_names = list(self.model.label_names)
        self.tokenizer = build(run.cfg.data.tokenizer)
        self.max_length = int(run.cfg.data.max_length)
        self.precision = run.cfg.get("trainer", {}).get("precision")
        self.batch_size = batch_size
        self.thresholds: list[float] | None = None
        self.threshold_source: str | None = None
        if self.task.per_label_thresholds:
            from src.tasks.multilabel import run_thresholds

            self.thresholds, self.threshold_source = run_thresholds(
                run.run_dir, self.label_names, thresholds
            )

    @torch.no_grad()
    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [N, labels]: the task's probabilities (sigmoid per label, softmax, ...)."""
        out = []
        device = torch.device("cpu")
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            with autocast_for(self.precision, device):
                logits = self.model(batch["input_ids"], batch["attention_mask"])
            out.append(self.task.probabilities(logits.float()).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.label_names)), np.float32)

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        name = self.task.name
        if self.task.output == TOKENS:
            spans = predict_token_spans(self.model, self.tokenizer, list(texts), self.max_length)
            return [
                {"text": t, "task": name, "spans": s} for t, s in zip(texts, spans, strict=True)
            ]
        probs = self.probabilities(texts)
        decided = self.output.decisions(probs, self.label_names, self.thresholds)
        results = []
        for text, row, decision in zip(texts, probs, decided, strict=True):
            result = {
                "text": text,
                "task": name,
                "probabilities": {
                    n: round(float(p), 6) for n, p in zip(self.label_names, row, strict=True)
                },
                **{k: round(v, 6) if isinstance(v, float) else v for k, v in decision.items()},
            }
            if self.threshold_source is not None:
                result["thresholds"] = self.threshold_source
            results.append(result)
        return results


# -- token spans ------------------------------------------------------------------------------
WORD = re.compile(r"\S+")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for each whitespace-separated word."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def _span(text: str, words: list[tuple[str, int, int]], label: str, scores: list[float]) -> dict:
    start, end = words[0][1], words[-1][2]
    return {
        "text": text[start:end],
        "label": label,
        "start": start,
        "end": end,
        "score": float(sum(scores) / len(scores)),
    }


def bio_spans(text: str, words: list, tags: list[str], scores: list[float]) -> list[dict]:
    """Merge B-/I- runs into spans the way seqeval's default mode reads them (``I-x`` after
    ``O`` or another type opens a new span); a span's score is the mean of its words'."""
    spans, current, kind = [], [], None
    for word, tag, score in zip(words, tags, scores, strict=True):
        prefix, _, label = tag.partition("-")
        if current and (prefix != "I" or label != kind):
            spans.append(_span(text, [w for w, _ in current], kind, [s for _, s in current]))
            current, kind = [], None
        if prefix in ("B", "I"):
            current.append((word, score))
            kind = label
    if current:
        spans.append(_span(text, [w for w, _ in current], kind, [s for _, s in current]))
    return spans


def binary_spans(text: str, words: list, tags: list[str], scores: list[float]) -> list[dict]:
    """Each word tagged ``1`` (e.g. a metaphor) as a span of its own."""
    return [
        _span(text, [word], tag, [score])
        for word, tag, score in zip(words, tags, scores, strict=True)
        if tag == "1"
    ]


#: tag scheme -> how words' tags become spans
SPAN_READERS = {"bio": bio_spans, "binary": binary_spans}


@torch.no_grad()
def word_tags(
    model: Any, tokenizer: Any, word_lists: Sequence[Sequence[str]], max_length: int
) -> list[tuple[list[str], list[float]]]:
    """(tag, softmax score) of every word the model sees (words beyond max_length dropped),
    each word read at its first sub-token, tokenised as training did."""
    if not word_lists:
        return []
    encoded = tokenizer(
        [list(w) for w in word_lists],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
        return_token_type_ids=False,
    )
    device = next(model.parameters()).device
    logits = model(encoded["input_ids"].to(device), encoded["attention_mask"].to(device))
    probs = model.task.probabilities(logits.float()).cpu()
    score, index = probs.max(dim=-1)
    out = []
    for row, words in enumerate(word_lists):
        _, word_index = first_subtoken_labels(encoded.word_ids(row), [0] * len(words))
        positions = [p for p, w in enumerate(word_index) if w >= 0]
        tags = [model.label_names[int(index[row, p])] for p in positions]
        out.append((tags, [float(score[row, p]) for p in positions]))
    return out


def predict_token_spans(
    model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 32
) -> list[list[dict]]:
    """Per text, the predicted spans ``{"text", "label", "start", "end", "score"}``.

    Texts are split on whitespace (character offsets kept); words beyond max_length get no
    span. ``model``: a ``TokenTagger`` in eval mode (its ``label_names`` and its task's
    ``scheme`` are used).
    """
    merge = SPAN_READERS[model.task.scheme]
    results: list[list[dict]] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        words = [split_words(text) for text in chunk]
        nonempty = [i for i, w in enumerate(words) if w]
        word_lists = [[w for w, _, _ in words[i]] for i in nonempty]
        tagged = word_tags(model, tokenizer, word_lists, max_length)
        by_text = dict(zip(nonempty, tagged, strict=True))
        for i, text in enumerate(chunk):
            tags, scores = by_text.get(i, ([], []))
            results.append(merge(text, words[i][: len(tags)], tags, scores))
    return results
