"""Predict with a trained checkpoint of a run folder, for every task (``python -m src.predict``).

Unlike the export predictors (``predictor.py``), this rebuilds the training-time model from the
run's ``config.yaml`` (``src.pipeline.load_run``), so it needs torch but no export step.
Multi-label: each label's probability and the labels its threshold selects (the run's tuned
``thresholds.json`` when present, else 0.5, and the output says which). Multi-class: the
softmax probabilities and the arg-max class. Token tasks: word-level spans with scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.inference.thresholds import apply_thresholds
from src.pipeline.evaluation import THRESHOLDS_FILE, parse_threshold_option, read_thresholds
from src.pipeline.load_run import load_run
from src.pipeline.predictions import autocast_for
from src.utils.errors import TextlabError
from src.utils.instantiate import build

DEFAULT_THRESHOLD = 0.5


class CheckpointPredictor:
    """Texts in, one result dict per text out (see the module docstring for its keys)."""

    def __init__(
        self, ckpt_path: str | Path, thresholds: Any = "tuned", batch_size: int = 32
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise TextlabError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        run = load_run(ckpt_path)
        self.model = run.model.eval()
        self.task = str(getattr(self.model, "task", "multilabel"))
        self.label_names = list(self.model.label_names)
        self.tokenizer = build(run.cfg.data.tokenizer)
        self.max_length = int(run.cfg.data.max_length)
        self.precision = run.cfg.get("trainer", {}).get("precision")
        self.batch_size = batch_size
        self.thresholds, self.threshold_source = self._thresholds(run.run_dir, thresholds)

    def _thresholds(self, run_dir: Path, option: Any) -> tuple[list[float] | None, str | None]:
        if self.task != "multilabel":
            return None, None
        fixed = parse_threshold_option(option)
        if fixed is not None:
            return [fixed] * len(self.label_names), f"{fixed:g} (thresholds={option})"
        if (Path(run_dir) / THRESHOLDS_FILE).is_file():
            tuned = read_thresholds(run_dir, self.label_names)
            return [tuned[n] for n in self.label_names], f"tuned ({THRESHOLDS_FILE})"
        default = [DEFAULT_THRESHOLD] * len(self.label_names)
        return default, f"{DEFAULT_THRESHOLD} (the run has no {THRESHOLDS_FILE})"

    @torch.no_grad()
    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [N, labels]: sigmoid per label (multi-label) or softmax (multi-class)."""
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
            out.append(self.model.probabilities(logits.float()).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.label_names)), np.float32)

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        if self.task == "token":
            from src.inference.token_spans import predict_token_spans

            spans = predict_token_spans(self.model, self.tokenizer, list(texts), self.max_length)
            return [
                {"text": t, "task": self.task, "spans": s}
                for t, s in zip(texts, spans, strict=True)
            ]
        if self.task not in ("multilabel", "multiclass"):
            raise TextlabError(f"cannot predict for task {self.task!r} (model {self.model})")
        probs = self.probabilities(texts)
        names = self.label_names
        results = []
        for text, row in zip(texts, probs, strict=True):
            result = {
                "text": text,
                "task": self.task,
                "probabilities": {n: round(float(p), 6) for n, p in zip(names, row, strict=True)},
            }
            if self.task == "multiclass":
                best = int(row.argmax())
                result.update(label=names[best], score=round(float(row[best]), 6))
            else:
                hits = apply_thresholds(row[None, :], self.thresholds)[0]
                result["labels"] = [n for n, hit in zip(names, hits, strict=True) if hit]
                result["thresholds"] = self.threshold_source
            results.append(result)
        return results


def read_texts(path: str | Path) -> list[str]:
    """One text per line (blank lines skipped), UTF-8; a clear error when unreadable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TextlabError(f"input_file {path} not found; pass a text file with one text per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise TextlabError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from err
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise TextlabError(f"input_file {path} has no non-blank line to predict")
    return texts
