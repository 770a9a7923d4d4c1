"""Export a run's checkpoint into one self-contained folder: what ``python -m src.export`` does.

Formats: ``onnx`` (``model.onnx`` taking ``input_ids`` and ``attention_mask`` [batch, sequence],
both axes dynamic, returning ``logits``; traced with the encoder's eager attention, the form
onnxruntime's transformer optimizer fuses into its Attention kernels; optionally
``model.int8.onnx``, dynamically quantised, with its accuracy cost measured on the run's test
rows and a pass/fail verdict in ``quantization.json``) and ``hf`` (transformers' own
``BertForSequenceClassification`` where the model is one, ``src.deploy.hf_stock``; else the
encoder as a standard HF folder; plus ``head.safetensors`` with the head and pooler weights).
Every export carries a model card, ``README.md`` (``src.deploy.model_card``). Both ship
``tokenizer.json`` set up as the model expects (truncation to its max_length, no fixed
padding). The folder layout is ``src.deploy.folder``'s; it is written in a temporary folder and
moved into place complete, every file readable by all (0644).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from src.config import build, build_datamodule
from src.deploy.backends import PROB_TOLERANCE
from src.deploy.folder import (
    EXPORT_CONFIG,
    HEAD_FILE,
    INT8_FILE,
    MANIFEST,
    ONNX_FILE,
    QUANTIZATION,
    THRESHOLDS,
    open_export_folder,
    write_manifest,
    write_tokenizer,
)
from src.deploy.hf_stock import PROJECT_LOADER, save_stock, stock_class, why_not_stock
from src.deploy.model_card import write_model_card
from src.deploy.predictors import OnnxPredictor
from src.deploy.torch_predictors import non_encoder_state
from src.errors import TextlabError
from src.evaluation.thresholds import run_thresholds_file
from src.runs.folder import write_json
from src.runs.loading import LoadedRun, load_run, resolve_checkpoint
from src.tasks.base import SEQUENCE, TOKENS
from src.tasks.formats import output_format
from src.tasks.output import DEFAULT, TUNED, OutputFormat

if TYPE_CHECKING:
    from src.models.module import EncoderModule

INPUTS = ["input_ids", "attention_mask"]
OUTPUTS = ["logits"]


# -- onnx -------------------------------------------------------------------------------------
class LogitsOnly(nn.Module):
    """Fixes the exported signature to (input_ids, attention_mask) -> logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask).float()


def example_inputs(vocab_size: int, batch: int = 2, length: int = 16) -> tuple[torch.Tensor, ...]:
    """A padded example batch: the tracer must see a mask with padding in it."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1000, min(vocab_size, 2000), (batch, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[-1, length // 2 :] = 0
    return input_ids, attention_mask


@contextmanager
def eager_attention(encoder: nn.Module) -> Iterator[None]:
    """The encoder with its reference (eager) attention while inside: traced, it gives the
    MatMul/Softmax pattern onnxruntime's transformer optimizer fuses (SDPA traces to a graph
    it does not recognise). The same numbers either way (tested)."""
    config = getattr(encoder, "config", None)
    before = getattr(config, "_attn_implementation", None)
    switch = getattr(encoder, "set_attn_implementation", None)
    if switch is None or before in (None, "eager"):
        yield
        return
    switch("eager")
    try:
        yield
    finally:
        switch(before)


def export_onnx(model: EncoderModule, out_dir: Path, opset: int = 17) -> dict[str, str]:
    """Trace the model to ``out_dir/model.onnx``; returns the model files entry.

    The TorchScript exporter (``dynamo=False``): torch's default dynamo exporter needs
    onnxscript. The wrapper is put in eval mode first, since the exporter restores each
    module's mode afterwards (a wrapper left in train mode would switch dropout back on).
    """
    wrapper = LogitsOnly(model).eval()
    vocab_size = model.encoder.config.vocab_size
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    per_token = model.task.output == TOKENS  # logits [batch, sequence, tags]
    axes["logits"] = {0: "batch", 1: "sequence"} if per_token else {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings(), eager_attention(model.encoder):
        # transformers' mask helpers warn that shape checks become constants in the trace;
        # for these encoders they are (tested: parity at unseen batch sizes and lengths)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper,
            example_inputs(vocab_size),
            str(out_dir / ONNX_FILE),
            input_names=INPUTS,
            output_names=OUTPUTS,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    model.eval()
    return {"fp32": ONNX_FILE}


# -- hf ---------------------------------------------------------------------------------------
def save_hf(model: EncoderModule, out_dir: Path, opset: int | None = None) -> dict[str, str]:
    """Write the model as an HF folder: as transformers' own sequence classifier where it is
    one (``src.deploy.hf_stock``: ``AutoModelForSequenceClassification`` loads it), else the
    encoder alone; every non-encoder weight (head, pooler) also beside it, for the project's
    loader. Returns the model files entry (``opset`` is ONNX's, unused here)."""
    from safetensors.torch import save_file

    if stock_class(model):
        save_stock(model, out_dir, list(model.label_names))
    else:
        model.encoder.save_pretrained(out_dir, safe_serialization=True)
    save_file(non_encoder_state(model), str(out_dir / HEAD_FILE))
    return {"encoder_config": "config.json", "encoder": "model.safetensors", "head": HEAD_FILE}


WRITERS: dict[str, Callable[[EncoderModule, Path, int], dict[str, str]]] = {
    "onnx": export_onnx,
    "hf": save_hf,
}


# -- int8 -------------------------------------------------------------------------------------
@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser logs a line per tensor on the root logger at INFO, and advice
    (pre-processing) at WARNING."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_onnx(out_dir: Path, fp32_file: str = ONNX_FILE) -> dict[str, str]:
    """Weights to int8, activations quantised on the fly; returns the model files entry."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            str(out_dir / fp32_file), str(out_dir / INT8_FILE), weight_type=QuantType.QInt8
        )
    return {"int8": INT8_FILE}


def quantization_cost(
    export_dir: Path, texts: Sequence[str], targets: np.ndarray, batch_size: int = 32
) -> dict[str, Any]:
    """fp32 vs int8 on labelled rows: the task's scores (multi-label: macro AUC and F1 at the
    thresholds; multi-class: accuracy), decisions changed, probability drift."""
    folder = open_export_folder(export_dir, verify=False)
    label_names, thresholds = folder.label_names, folder.threshold_list
    report: dict[str, Any] = {"rows": len(texts)}
    probs = {
        variant: OnnxPredictor(folder, variant, batch_size).predict_probs(texts)
        for variant in ("fp32", "int8")
    }
    targets = np.asarray(targets)
    if folder.output.per_label_thresholds:
        from src.tasks.multilabel.metrics import multilabel_scores

        assert thresholds is not None  # opening such a folder requires its thresholds.json

        for variant, p in probs.items():
            scores = multilabel_scores(p, targets, label_names, threshold=thresholds)
            report[f"auc_macro_{variant}"] = scores["auc_macro"]
            report[f"f1_macro_{variant}"] = scores["f1_macro"]
        report["auc_macro_cost"] = report["auc_macro_fp32"] - report["auc_macro_int8"]
        cut = np.asarray(thresholds, dtype=np.float32)
        chosen = {variant: p >= cut for variant, p in probs.items()}
    else:
        classes = targets.argmax(axis=1) if targets.ndim == 2 else targets
        chosen = {variant: p.argmax(axis=1) for variant, p in probs.items()}
        for variant, picked in chosen.items():
            report[f"accuracy_{variant}"] = float((picked == classes).mean())
        report["accuracy_cost"] = report["accuracy_fp32"] - report["accuracy_int8"]
    report["max_abs_prob_diff"] = float(np.abs(probs["fp32"] - probs["int8"]).max())
    report["label_decisions_changed"] = int((chosen["fp32"] != chosen["int8"]).sum())
    report["label_decisions"] = int(chosen["fp32"].size)
    report.update(quantization_verdict(report["max_abs_prob_diff"]))
    report["file_mb"] = {
        v: round((export_dir / f).stat().st_size / 2**20, 1)
        for v, f in folder.config["model_files"].items()
    }
    return report


def quantization_verdict(max_abs_prob_diff: float) -> dict[str, Any]:
    """``pass`` when every int8 probability lies within the tools' tolerance of float32's
    (``PROB_TOLERANCE``); ``auto`` serves int8 only then."""
    passed = max_abs_prob_diff <= PROB_TOLERANCE
    return {
        "tolerance": {"max_abs_prob_diff": PROB_TOLERANCE},
        "verdict": "pass" if passed else "fail",
        "verdict_reason": (
            f"max |int8 - fp32| probability {max_abs_prob_diff:.4f} "
            f"{'<=' if passed else '>'} {PROB_TOLERANCE} on the test rows; "
            + ("backend=auto may serve int8" if passed else "backend=auto will not serve int8")
        ),
    }


def scored_test_rows(
    data_cfg: Any, tokenizer: Any, max_rows: int | str | None = "run"
) -> tuple[list[str], np.ndarray]:
    """The run's test rows, in the order its DataModule (and so ``src.eval``) uses them:
    (texts, [N, L] targets with -1 unscored). ``max_rows``: ``run`` keeps the run's own
    ``data.max_test_rows``, an integer overrides it, ``None`` takes every scored row."""
    if isinstance(max_rows, str) and max_rows != "run":
        raise TextlabError(f"quantize_eval.max_rows must be run, null or an integer: {max_rows!r}")
    overrides = {} if max_rows == "run" else {"max_test_rows": max_rows}
    datamodule = build_datamodule(data_cfg, tokenizer=tokenizer, **overrides)
    datamodule.prepare_data()
    test = datamodule.raw_split("test")
    return list(test.texts), np.asarray(test.labels)


def load_with(model: Any, fmt: str) -> str:
    """How a user loads this export (its card and ``src.export``'s console line say it)."""
    if fmt == "onnx":
        return f"onnxruntime on model.onnx, or {PROJECT_LOADER}"
    stock = stock_class(model)
    if stock:
        return (
            f"transformers: AutoModelForSequenceClassification.from_pretrained(folder) "
            f"({stock}), or {PROJECT_LOADER}"
        )
    return f"the project's loader, {PROJECT_LOADER} ({why_not_stock(model)})"


def _fresh_out_dir(out_dir: Path) -> None:
    """Only replace a folder that is itself an export (never an arbitrary folder or a file)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise TextlabError(f"out_dir {out_dir} is a file; choose a folder for out_dir=")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise TextlabError(
            f"out_dir {out_dir} exists and is not an export folder; choose another out_dir="
        )


def _readable_by_all(folder: Path) -> None:
    """0755 folders, 0644 files: a service running as another user reads the export
    (``mkdtemp`` and safetensors create owner-only ones)."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def export_run(
    ckpt_path: str | Path,
    fmt: str = "onnx",
    out_dir: str | Path | None = None,
    quantize: bool = False,
    opset: int = 17,
    eval_max_rows: int | str | None = "run",
    log_dir: str | Path = "logs",
) -> Path:
    """Write the export folder and return its path (default ``<run>/export/<fmt>``).

    ``ckpt_path``: a checkpoint, a run folder, ``latest`` or ``latest:<task_name>``
    (``src.runs.loading``, looked up under ``log_dir``).
    """
    if fmt not in WRITERS:
        raise TextlabError(f"format must be one of {sorted(WRITERS)}, got {fmt!r}")
    if quantize and fmt != "onnx":
        raise TextlabError("quantize=true needs format=onnx (int8 is an ONNX Runtime model)")
    ckpt = resolve_checkpoint(ckpt_path, log_dir)
    run = load_run(ckpt)
    task = run.model.task
    output = output_format(task.name)
    if output.export_task is None:
        raise TextlabError(
            f"export does not support {task.name} {type(run.model).__name__} models yet"
        )
    if quantize and task.output != SEQUENCE:
        raise TextlabError("quantize=true is for sequence classifiers; drop it for a tagger")
    out_dir = Path(out_dir).expanduser() if out_dir else run.run_dir / "export" / fmt
    _fresh_out_dir(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    except OSError as err:
        raise TextlabError(
            f"cannot write out_dir {out_dir}: {err.strerror or err} ({err.filename or out_dir}); "
            "choose a writable out_dir="
        ) from None
    try:
        about = _write_folder(run, output, fmt, work, quantize, opset, eval_max_rows)
        write_manifest(work, {**about, "source_checkpoint": str(ckpt.resolve())})
        _readable_by_all(work)
        try:
            if out_dir.exists():
                shutil.rmtree(out_dir)
            work.replace(out_dir)
        except OSError as err:
            raise TextlabError(
                f"cannot replace {out_dir}: {err.strerror or err}; choose another out_dir="
            ) from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out_dir


def _write_folder(
    run: LoadedRun,
    output: OutputFormat,
    fmt: str,
    work: Path,
    quantize: bool,
    opset: int,
    eval_max_rows: int | str | None,
) -> dict[str, Any]:
    """Everything but the manifest; returns what the manifest says about the export."""
    model, cfg, task = run.model, run.cfg, run.model.task
    label_names = list(model.label_names)
    tokenizer = build(cfg.backbone.tokenizer)
    max_length = int(cfg.data.max_length)
    tokenizer.model_max_length = max_length  # transformers' AutoTokenizer readers truncate there
    tokenizer.save_pretrained(work)
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    write_tokenizer(work, backend, max_length, int(tokenizer.pad_token_id))
    thresholds_source = f"none: {output.decision_rule}"
    threshold_kind = None
    if output.per_label_thresholds:
        thresholds, thresholds_source = run_thresholds_file(run.run_dir, label_names)
        threshold_kind = TUNED if thresholds_source.startswith(TUNED) else DEFAULT
        write_json(work / THRESHOLDS, thresholds)
    model_files = WRITERS[fmt](model, work, opset)
    if quantize:
        model_files.update(quantize_onnx(work))
    config = {
        "task": output.export_task,
        "task_name": task.name,
        "task_options": task.config(),
        "format": fmt,
        "label_names": label_names,
        "pooling": model.hparams.get("pooling"),
        "pooling_layers": model.hparams.get("pooling_layers"),
        "mix_layers": model.hparams.get("mix_layers"),
        "dropout": model.hparams.dropout,
        "max_length": max_length,
        "context_sentences": int(cfg.data.get("context_sentences") or 0),
        "pad_token_id": int(tokenizer.pad_token_id),
        "model_type": model.encoder.config.model_type,
        "backbone": cfg.backbone.name,
        "inputs": INPUTS,
        "outputs": OUTPUTS,
        **output.export_fields(label_names, task.config()),
        "model_files": model_files,
        "opset": opset if fmt == "onnx" else None,
        "thresholds_source": threshold_kind,
        "load_with": load_with(model, fmt),
    }
    write_json(work / EXPORT_CONFIG, config)
    if quantize:
        texts, targets = scored_test_rows(cfg.data, tokenizer, eval_max_rows)
        write_json(work / QUANTIZATION, quantization_cost(work, texts, targets))
    write_model_card(work, run, config, config["load_with"])
    return {
        "format": fmt,
        "task": output.export_task,
        "task_name": task.name,
        "thresholds_source": thresholds_source,
    }
