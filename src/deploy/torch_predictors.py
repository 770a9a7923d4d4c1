"""Predict with PyTorch, in float32 or under bf16 autocast: from a ``format=hf`` export, or
from a run's checkpoint.

:class:`TorchPredictor` runs the training-time model (rebuilt from an HF export by
:func:`load_hf_model`); :class:`CheckpointPredictor` (``python -m src.predict``) rebuilds it from
the run folder's ``config.yaml`` instead, so it needs no export step. Both give the predictions
of ``src.tasks.formats``, the same JSON as the ONNX predictor and the service.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from src.config import build
from src.deploy.backends import AUTO, MEASURED_FILE, PRECISIONS, check_backend, choose_backend
from src.deploy.folder import (
    EXPORT_CONFIG,
    HEAD_FILE,
    ExportFolder,
    TextEncoder,
    read_export_config,
    task_name_of,
)
from src.deploy.predictors import Predictor, folder_about
from src.errors import TextlabError
from src.models.module import EncoderModule, PooledClassifier, TokenTagger
from src.runs.loading import load_run, resolve_checkpoint
from src.tasks import task_class
from src.tasks.formats import output_format
from src.tasks.output import (
    DEFAULT,
    DEFAULT_THRESHOLD,
    FIXED,
    TUNED,
    LabelSet,
    ModelInput,
    OutputFormat,
    split_words,
    threshold_option,
)
from src.tasks.token.output import bio_spans, word_tags_from_probs

__all__ = [
    "CheckpointPredictor",
    "TorchPredictor",
    "bio_spans",
    "load_hf_model",
    "predict_token_spans",
    "split_words",
    "word_tags",
]

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


def load_hf_model(export_dir: str | Path) -> EncoderModule:
    """The exported model (pooled classifier or token tagger) in eval mode, rebuilt from an HF
    export: no Hydra config or checkpoint needed."""
    from safetensors.torch import load_file
    from transformers import AutoModel

    export_dir = Path(export_dir)
    config = read_export_config(export_dir)
    task_options = ExportFolder(export_dir, config, {}).task_options
    task = task_class(task_name_of(config))(**task_options)
    options: dict[str, Any] = {"dropout": config["dropout"]}
    if config.get("pooling") is not None:
        options.update(pooling=config["pooling"], pooling_layers=config.get("pooling_layers", 4))
    if config.get("mix_layers") is not None:
        options["mix_layers"] = config["mix_layers"]
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a stock-class export's classifier: not the encoder's
    hf_logging.disable_progress_bar()
    try:
        encoder = AutoModel.from_pretrained(export_dir, use_safetensors=True)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
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


# -- the PyTorch backends ------------------------------------------------------------------------
def autocast_for(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``bf16`` (CPU or GPU), nothing for ``fp32``."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def linear_weights_to_bf16(model: torch.nn.Module) -> None:
    """Store the linear layers' weights in bf16 once (the predictor owns its model): autocast
    casts them to bf16 for every product anyway, and otherwise does it again at every call.
    The probabilities are the same to the bit (tests/deploy/test_agreement.py)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchPredictor(Predictor):
    """A model in PyTorch eager mode; ``precision``: ``fp32`` or ``bf16`` (autocast: matrix
    products in bf16, the linear layers' weights stored in bf16, the rest float32)."""

    def __init__(
        self,
        model: EncoderModule,
        output: OutputFormat,
        labels: LabelSet,
        encoder: TextEncoder,
        precision: str = "fp32",
        batch_size: int = 32,
        about: dict[str, Any] | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if precision not in PRECISIONS.values():
            raise TextlabError(
                f"precision must be one of {sorted(PRECISIONS.values())}, got {precision!r}"
            )
        super().__init__(output, labels, encoder, batch_size, about)
        self.device = torch.device(device) if device is not None else default_device()
        if self.device.type == "cuda" or precision == "bf16":
            # a GPU and bf16 matrix units want full batches, not short ones: on an AMX CPU,
            # bf16 served 16-text requests at 97.6 texts/s in 256-token calls and at 198.0 in
            # whole requests (benchmarks/README.md, Inference)
            self.max_batch_tokens = batch_size * encoder.max_length
        self.model = model.eval().to(self.device)
        if precision == "bf16":
            linear_weights_to_bf16(self.model)
        self.precision = precision
        self.name = f"pytorch-{precision}"

    @classmethod
    def from_export(
        cls,
        folder: ExportFolder,
        precision: str = "fp32",
        batch_size: int = 32,
        thresholds: Any = TUNED,
    ) -> TorchPredictor:
        """The model of a ``format=hf`` export folder."""
        if folder.format != "hf":
            raise TextlabError(
                f"{folder.path} is a {folder.format} export; PyTorch needs format=hf"
            )
        model = load_hf_model(folder.path)
        labels = folder.labels(thresholds)
        encoder = TextEncoder.of(folder)
        return cls(
            model, folder.output, labels, encoder, precision, batch_size, folder_about(folder)
        )

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Batched at every precision: under bf16 a text's probabilities move with its
        batch-mates' padded length, within ``BATCH_TOLERANCE`` (text by text, the model
        calls would be as small as the call-size table of benchmarks/README.md shows slow)."""
        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention_mask).to(self.device)
        with torch.inference_mode(), autocast_for(self.precision, self.device):
            out = self.model(ids, mask)
        return out.float().cpu().numpy()


def encoder_of(tokenizer: Any, max_length: int) -> TextEncoder:
    """A :class:`TextEncoder` from a transformers fast tokenizer (its Rust tokenizer, copied:
    the same tokenisation an export's ``tokenizer.json`` gives)."""
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    return TextEncoder(backend, max_length, tokenizer.pad_token_id)


def run_labels(
    run_dir: Path, output: OutputFormat, names: Sequence[str], options: dict, thresholds: Any
) -> LabelSet:
    """A run's labels; tasks with thresholds: the ``thresholds`` option (``tuned``: the run's
    ``thresholds.json``, else 0.5 for every label; or one number)."""
    if not output.per_label_thresholds:
        return LabelSet(tuple(names), options=options)
    from src.evaluation.thresholds import THRESHOLDS_FILE, read_thresholds

    fixed = threshold_option(thresholds)
    if fixed is not None:
        values, source = [fixed] * len(names), FIXED
    elif (run_dir / THRESHOLDS_FILE).is_file():
        tuned = read_thresholds(run_dir, list(names))
        values, source = [tuned[n] for n in names], TUNED
    else:
        values, source = [DEFAULT_THRESHOLD] * len(names), DEFAULT
    return LabelSet(tuple(names), tuple(values), source, options)


class CheckpointPredictor(TorchPredictor):
    """A run's checkpoint, predicting without an export (``python -m src.predict``).

    Args:
        ckpt_path: a checkpoint, a run folder, ``latest`` or ``latest:<task_name>``
            (``src.runs.loading.resolve_checkpoint``).
        thresholds: tasks with thresholds: ``tuned`` (the run's, else 0.5) or one number.
        batch_size: texts per model call.
        backend: ``auto`` (the faster of the two on this machine, ``src.deploy.backends``),
            ``pytorch-fp32`` or ``pytorch-bf16``.
        log_dir: where ``latest`` looks for runs.
    """

    def __init__(
        self,
        ckpt_path: str | Path,
        thresholds: Any = TUNED,
        batch_size: int = 32,
        backend: str = AUTO,
        log_dir: str | Path = "logs",
        measured_file: str | Path | None = MEASURED_FILE,
    ) -> None:
        check_backend(backend, (AUTO, *PRECISIONS))
        threshold_option(thresholds)  # a bad option fails before the model loads
        ckpt = resolve_checkpoint(ckpt_path, log_dir)
        run = load_run(ckpt)
        model, cfg = run.model, run.cfg
        output = output_format(model.task.name)
        max_length = int(cfg.data.max_length)
        encoder = encoder_of(build(cfg.backbone.tokenizer), max_length)
        labels = run_labels(run.run_dir, output, model.label_names, model.task.config(), thresholds)
        why = "asked for"
        if backend == AUTO:
            backend, why = choose_backend(list(PRECISIONS), measured_file)
        about = {
            "task": output.name,
            "backbone": cfg.get("backbone", {}).get("name"),
            "pooling": model.hparams.get("pooling"),
            "max_length": max_length,
            "context_sentences": int(cfg.data.get("context_sentences") or 0),
            "source": str(ckpt),
        }
        super().__init__(model, output, labels, encoder, PRECISIONS[backend], batch_size, about)
        self.choice = why
        self.run_dir = run.run_dir


# -- token spans from a model in memory (analyses and tests) ---------------------------------------
def _tagger(model: Any, tokenizer: Any, max_length: int, batch_size: int) -> TorchPredictor:
    labels = LabelSet(tuple(model.label_names), options=model.task.config())
    device = next(model.parameters()).device
    output = output_format(model.task.name)
    encoder = encoder_of(tokenizer, max_length)
    return TorchPredictor(model, output, labels, encoder, "fp32", batch_size, device=device)


def word_tags(
    model: Any,
    tokenizer: Any,
    word_lists: Sequence[Sequence[str]],
    max_length: int,
    batch_size: int = 32,
    contexts: Sequence[Sequence[str]] | None = None,
) -> list[tuple[list[str], list[float]]]:
    """(tag, softmax score) of every word the model sees (words beyond max_length dropped),
    each word read at its first sub-token, tokenised as training did (``contexts``: the words
    read before each sentence, untagged)."""
    if not word_lists:
        return []
    tagger = _tagger(model, tokenizer, max_length, batch_size)
    encoded = tagger.encoder.word_encodings(word_lists, contexts)
    inputs = [ModelInput(ids, word_ids) for ids, word_ids in encoded]
    out = []
    for (_, word_ids), probs in zip(encoded, tagger.probabilities_of(inputs), strict=True):
        _, tags, scores = word_tags_from_probs(word_ids, probs, tagger.label_names)
        out.append((tags, scores))
    return out


def predict_token_spans(
    model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 32
) -> list[list[dict]]:
    """Per text, the predicted spans ``{"text", "label", "start", "end", "score"}`` of a
    ``TokenTagger`` (texts split on whitespace, character offsets kept; words beyond
    max_length get no span; an empty text has none)."""
    tagger = _tagger(model, tokenizer, max_length, batch_size)
    return [prediction["spans"] for prediction in tagger.predict_unchecked(texts)]
