"""Export a run's checkpoint into one self-contained folder: what ``python -m src.export`` does.

The folder holds the model (ONNX or HF format), the tokenizer files, ``export_config.json``
(task, label names, pooling, max_length, pad id, model files), ``thresholds.json``, optionally
``quantization.json`` (int8 accuracy cost) and, written last, ``manifest.json``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from src.export.hf import save_hf
from src.export.manifest import write_manifest
from src.export.onnx import INPUTS, OUTPUTS, export_onnx
from src.export.run_thresholds import run_thresholds
from src.inference.export_folder import EXPORT_CONFIG, MANIFEST, THRESHOLDS
from src.models.sequence_classifier import MultilabelClassifier
from src.models.token_tagger import TokenTagger
from src.pipeline.load_run import load_run
from src.pipeline.run_folder import write_json
from src.utils.errors import TextlabError
from src.utils.instantiate import build, build_datamodule

FORMATS: dict[str, Callable[[Any, Path], dict[str, str]]] = {"onnx": export_onnx, "hf": save_hf}
# model class -> task name; a token tagger adds its own entry (and its writers) here
TOKEN_TASK = "token_classification"
TASKS: dict[type, str] = {
    MultilabelClassifier: "multilabel_sequence_classification",
    TokenTagger: TOKEN_TASK,
}


def task_of(model: Any) -> str:
    for cls, task in TASKS.items():
        if isinstance(model, cls):
            return task
    raise TextlabError(f"export does not support {type(model).__name__} models yet")


def scored_test_rows(
    data_cfg: Any, tokenizer: Any, max_rows: int | str | None = "run"
) -> tuple[list[str], np.ndarray]:
    """The run's test rows, in the order its DataModule (and so ``src.eval``) uses them:
    (texts, [N, L] targets with -1 unscored). ``max_rows``: ``run`` keeps the run's own
    ``data.max_test_rows``, an integer overrides it, ``None`` takes every scored row."""
    overrides = {} if max_rows == "run" else {"max_test_rows": max_rows}
    if isinstance(max_rows, str) and max_rows != "run":
        raise TextlabError(f"quantize_eval.max_rows must be run, null or an integer: {max_rows!r}")
    datamodule = build_datamodule(data_cfg, tokenizer=tokenizer, **overrides)
    datamodule.prepare_data()
    datamodule.setup("test")
    rows = datamodule.read_test()
    text_of = dict(zip(map(str, rows.ids), rows.texts, strict=True))
    return [text_of[i] for i in datamodule.test_ids], datamodule.test_dataset.labels


def _token_config(model: TokenTagger) -> dict[str, Any]:
    """What a token tagger's export adds: logits per sub-token and how to read words off them."""
    return {
        "logits_axes": ["batch", "sequence", "tags"],
        "scheme": model.scheme,
        "default_tag": model.label_names[0],
        "activation": "softmax",
        "decision_rule": "argmax tag of each word, read at its first sub-token; words are "
        "split on whitespace and tokenised with is_split_into_words",
    }


def _fresh_out_dir(out_dir: Path) -> None:
    """Only replace a folder that is itself an export (never an arbitrary folder)."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise TextlabError(
            f"out_dir {out_dir} exists and is not an export folder; choose another out_dir="
        )


def export_run(
    ckpt_path: str | Path,
    fmt: str = "onnx",
    out_dir: str | Path | None = None,
    quantize: bool = False,
    opset: int = 17,
    eval_max_rows: int | str | None = "run",
) -> Path:
    """Write the export folder and return its path (default ``<run>/export/<fmt>``)."""
    if fmt not in FORMATS:
        raise TextlabError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    if quantize and fmt != "onnx":
        raise TextlabError("quantize=true needs format=onnx (int8 is an ONNX Runtime model)")
    run = load_run(ckpt_path)
    task = task_of(run.model)
    if quantize and task == TOKEN_TASK:
        raise TextlabError("quantize=true is for sequence classifiers; drop it for a tagger")
    out_dir = Path(out_dir) if out_dir else run.run_dir / "export" / fmt
    _fresh_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        about = _write_folder(run, task, fmt, work, quantize, opset, eval_max_rows, ckpt_path)
        write_manifest(work, about)
        work.chmod(0o755)  # mkdtemp makes it owner-only
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.replace(out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out_dir


def _write_folder(
    run: Any,
    task: str,
    fmt: str,
    work: Path,
    quantize: bool,
    opset: int,
    eval_max_rows: int | str | None,
    ckpt_path: str | Path,
) -> dict[str, Any]:
    model, cfg = run.model, run.cfg
    label_names = list(model.label_names)
    tokenizer = build(cfg.backbone.tokenizer)
    tokenizer.save_pretrained(work)
    thresholds_source = "none: a token tagger takes the argmax tag of each word"
    if task != TOKEN_TASK:
        thresholds, thresholds_source = run_thresholds(run.run_dir, label_names)
        write_json(work / THRESHOLDS, thresholds)
    model_files = FORMATS[fmt](model, work)
    if quantize:
        from src.export.quantize import quantize_onnx

        model_files.update(quantize_onnx(work))
    config = {
        "task": task,
        "format": fmt,
        "label_names": label_names,
        "pooling": model.hparams.get("pooling"),
        "dropout": model.hparams.dropout,
        "max_length": int(cfg.data.max_length),
        "pad_token_id": int(tokenizer.pad_token_id),
        "model_type": model.encoder.config.model_type,
        "backbone": cfg.backbone.name,
        "inputs": INPUTS,
        "outputs": OUTPUTS,
        "activation": "sigmoid",
        "decision_rule": "label predicted when probability >= its threshold",
        "model_files": model_files,
        "opset": opset if fmt == "onnx" else None,
        **(_token_config(model) if task == TOKEN_TASK else {}),
    }
    write_json(work / EXPORT_CONFIG, config)
    if quantize:
        from src.export.quantize import quantization_cost

        texts, targets = scored_test_rows(cfg.data, tokenizer, eval_max_rows)
        write_json(work / "quantization.json", quantization_cost(work, texts, targets))
    return {
        "format": fmt,
        "task": task,
        "source_checkpoint": str(Path(ckpt_path).resolve()),
        "thresholds_source": thresholds_source,
    }
