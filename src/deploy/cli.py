"""What ``python -m src.predict`` (and its ONNX-only alias ``src.onnx_predict``) does: read the
texts, load a predictor for a checkpoint (``ckpt_path=``) or an export (``export_dir=``), and
write one JSON line per text. The ONNX path imports no torch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from omegaconf import DictConfig

from src.config import Rule, at_least, one_of, validated
from src.deploy.backends import (
    AUTO,
    BACKENDS,
    ONNX_FP32,
    ONNX_INT8,
    PRECISIONS,
    check_backend,
    passive_threads,
)
from src.deploy.folder import export_folders
from src.deploy.predictors import Predictor, contexts_from_lines, texts_of
from src.deploy.references import load_predictor
from src.errors import TextlabError

ONNX_BACKENDS = (ONNX_FP32, ONNX_INT8)


@dataclass
class PredictSchema:
    batch_size: int = 32
    backend: str = AUTO
    context_lines: int = 0
    rules: ClassVar[dict[str, Rule]] = {
        "batch_size": at_least(1),
        "context_lines": at_least(0),
        "backend": one_of(AUTO, *BACKENDS),
    }


def write_lines(lines: list[str], output_file: Any) -> str:
    """The JSON lines, printed or written to ``output_file``; returns what to print."""
    if not output_file:
        return "\n".join(lines)
    path = Path(str(output_file)).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    except OSError as err:
        reason = err.strerror or str(err)
        raise TextlabError(f"cannot write output_file {path}: {reason}; choose another") from None
    return f"written: {path} ({len(lines)} predictions)"


def _predictor(
    cfg: DictConfig, settings: PredictSchema, from_export: bool, allowed: tuple[str, ...]
) -> Predictor:
    if from_export:
        return load_predictor(
            cfg.get("export_dir"),
            settings.backend,
            settings.batch_size,
            cfg.thresholds,
            log_dir=cfg.paths.log_dir,
            allowed=tuple(b for b in allowed if b != AUTO),
        )
    from src.deploy.torch_predictors import CheckpointPredictor
    from src.runs.loading import resolve_checkpoint

    ckpt = resolve_checkpoint(cfg.get("ckpt_path"), cfg.paths.log_dir)
    return CheckpointPredictor(
        ckpt, cfg.thresholds, settings.batch_size, settings.backend, log_dir=cfg.paths.log_dir
    )


def predict_command(cfg: DictConfig, onnx_only: bool = False) -> str:
    """Run the predict command on ``cfg``; returns what to print (the JSON lines, or where they
    were written). Options are checked, and the model found, before any text is read."""
    settings = validated(cfg, PredictSchema)
    from_export = onnx_only or cfg.get("export_dir") is not None
    if onnx_only:
        allowed: tuple[str, ...] = (AUTO, *ONNX_BACKENDS)
    elif from_export:
        allowed = (AUTO, *BACKENDS)
    else:  # a checkpoint runs on PyTorch
        allowed = (AUTO, *PRECISIONS)
    check_backend(settings.backend, allowed)
    if from_export:
        export_folders(cfg.get("export_dir"), cfg.paths.log_dir)  # before reading stdin
    else:
        passive_threads()  # before torch loads
        from src.runs.loading import resolve_checkpoint

        resolve_checkpoint(cfg.get("ckpt_path"), cfg.paths.log_dir)  # before reading stdin
    texts = texts_of(cfg.get("text"), cfg.get("input_file"), cfg.get("texts"))
    predictor = _predictor(cfg, settings, from_export, allowed)
    results = predictor.predict(texts, contexts_from_lines(texts, settings.context_lines))
    lines = [json.dumps(result, ensure_ascii=False) for result in results]
    return write_lines(lines, cfg.get("output_file"))
