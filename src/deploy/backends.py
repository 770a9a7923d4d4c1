"""Which backend predicts: the backends there are, what this machine has, and ``auto``.

Backends (``backend=`` of ``src.serve``, ``src.onnx_predict``, ``src.predict`` and
:func:`src.deploy.references.load_predictor`):

- ``pytorch-fp32``: PyTorch eager, float32 (a ``format=hf`` export, or a run's checkpoint);
- ``pytorch-bf16``: the same under bf16 autocast: fastest on CPUs with AMX and on GPUs; with
  AVX512-BF16 alone it beats fp32 but not int8 (benchmarks/README.md); emulated elsewhere.
  It runs batched: bf16 rounds per padded shape, so a text's probabilities move with the texts
  that share its model call, by at most :data:`BATCH_TOLERANCE`;
- ``onnx-fp32``: the export's ``model.onnx`` on onnxruntime (no torch);
- ``onnx-int8``: its dynamically quantised ``model.int8.onnx`` (``quantize=true``); ``auto``
  considers it only when its measured verdict (``quantization.json``) is ``pass``: every test
  probability within :data:`PROB_TOLERANCE` of float32's.

``auto`` picks the fastest backend that this machine measured (``python -m benchmarks.inference``
records its figures in ``.cache/inference_backends.json``) among those the reference offers,
leaving out any whose measured probabilities lay further than :data:`PROB_TOLERANCE` from
float32's. Without a record for this machine it follows a rule: PyTorch bf16 on a CUDA GPU; on
a CPU, ONNX int8 (when its export passed its quality check), then ONNX fp32, PyTorch fp32 and
PyTorch bf16 last (bf16 is fast only where the CPU has AMX, which a measurement shows).
This module imports no torch unless a PyTorch backend is possible.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from src.errors import TextlabError
from src.runs.provenance import machine

AUTO = "auto"
PYTORCH_FP32, PYTORCH_BF16 = "pytorch-fp32", "pytorch-bf16"
ONNX_FP32, ONNX_INT8 = "onnx-fp32", "onnx-int8"
#: backend -> the export format it runs from
BACKENDS = {PYTORCH_FP32: "hf", PYTORCH_BF16: "hf", ONNX_FP32: "onnx", ONNX_INT8: "onnx"}
#: backend -> the PyTorch precision it runs at
PRECISIONS = {PYTORCH_FP32: "fp32", PYTORCH_BF16: "bf16"}
#: how far a backend's probabilities may lie from float32's (every label, every text): the
#: tolerance the tools agree within (docs/serving.md). ``quantize=true`` measures int8 against
#: it on the run's test rows; ``auto`` never serves an int8 model that failed it.
PROB_TOLERANCE = 0.02
#: how far a text's probabilities may move with the other texts of its model call (batched
#: bf16; 2.8e-3 measured on the trained default run, benchmarks/README.md). fp32 moves by
#: float32 rounding (about 1e-8) and int8, which quantises activations per call, runs each
#: text alone: 0.
BATCH_TOLERANCE = 0.005
ROOT = Path(__file__).resolve().parents[2]
#: what ``python -m benchmarks.inference`` measured on this machine
MEASURED_FILE = ROOT / ".cache" / "inference_backends.json"


#: OpenMP's idle policy for the PyTorch backends (see :func:`passive_threads`)
OMP_WAIT_POLICY = "PASSIVE"


def passive_threads() -> None:
    """Let idle OpenMP threads sleep instead of spinning; the entry points call it before
    torch loads (OpenMP reads it once). On cores shared with other work a spinning pool
    stalls at every barrier while a preempted thread waits for its slice: measured here with
    two niced training jobs beside it, PyTorch bf16 went from 19 to 74 samples/s and a single
    text from 386 to 17 ms. The ONNX predictor switches its own spinning off likewise."""
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)


def check_backend(backend: str, allowed: tuple[str, ...] = (AUTO, *BACKENDS)) -> str:
    if backend not in allowed:
        raise TextlabError(f"backend must be one of {list(allowed)}, got {backend!r}")
    return backend


# -- what this machine has ----------------------------------------------------------------------
def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def cuda_available() -> bool:
    """A CUDA GPU PyTorch can use (imports torch: call only where PyTorch may run)."""
    if not torch_installed():
        return False
    import torch

    return torch.cuda.is_available()


# -- auto -----------------------------------------------------------------------------------
def read_record(path: str | Path | None = MEASURED_FILE) -> dict[str, Any] | None:
    """What ``python -m benchmarks.inference`` recorded on this machine, or None (no record,
    another machine's, or an unreadable file)."""
    if path is None:
        return None
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("machine") != machine():
        return None
    return record


def outside_tolerance(record: dict[str, Any] | None) -> dict[str, float]:
    """``backend -> max abs probability difference from float32`` for the backends the record
    measured beyond :data:`PROB_TOLERANCE` (``auto`` never picks them)."""
    try:
        return {str(k): float(v) for k, v in (record or {}).get("outside_tolerance", {}).items()}
    except (TypeError, ValueError, AttributeError):
        return {}


def measured_speeds(record: dict[str, Any] | None) -> dict[str, float]:
    """``backend -> texts/s`` served on this machine (16-text requests through ``predict``)
    for the backends within :data:`PROB_TOLERANCE` of float32 (or not compared)."""
    outside = outside_tolerance(record)
    try:
        speeds = (record or {}).get("served_texts_per_s", {}).items()
        return {str(k): float(v) for k, v in speeds if k in BACKENDS and k not in outside}
    except (TypeError, ValueError, AttributeError):
        return {}


def rule_order(offered: list[str]) -> list[str]:
    """The offered backends, fastest first, by what the hardware has (the measurements'
    rule). Torch is looked at only when a PyTorch backend is offered."""
    pytorch_offered = any(BACKENDS[name] == "hf" for name in offered)
    if pytorch_offered and cuda_available():
        order = [PYTORCH_BF16, PYTORCH_FP32, ONNX_INT8, ONNX_FP32]
    else:  # the CPU: bf16 only beats the others with AMX, which a measurement shows
        order = [ONNX_INT8, ONNX_FP32, PYTORCH_FP32, PYTORCH_BF16]
    return [name for name in order if name in offered]


def choose_backend(
    offered: list[str], measured_file: str | Path | None = MEASURED_FILE
) -> tuple[str, str]:
    """(backend, why) for ``auto``: the fastest offered backend this machine measured, else the
    first offered by :func:`rule_order`; never one measured outside :data:`PROB_TOLERANCE`."""
    if not offered:
        raise TextlabError("no backend to choose from")
    record = read_record(measured_file)
    outside = outside_tolerance(record)
    offered = [name for name in offered if name not in outside]
    if not offered:
        raise TextlabError(
            f"every backend offered was measured outside the tolerance ({outside}); name one "
            "with backend=..., or measure again with python -m benchmarks.inference"
        )
    measured = measured_speeds(record)
    timed = [name for name in offered if name in measured]
    if timed:
        best = max(timed, key=measured.__getitem__)
        figures = ", ".join(
            f"{n} {measured[n]:.0f}" for n in sorted(timed, key=measured.__getitem__)[::-1]
        )
        return best, f"fastest measured here (texts/s: {figures}; {measured_file})"
    best = rule_order(offered)[0]
    if best == PYTORCH_BF16:
        why = "rule: a CUDA GPU here (no measurement recorded here)"
    else:
        why = "rule: on a CPU, ONNX before PyTorch, int8 (if it passed) first (no measurement)"
    return best, why
