"""Opening a reference for prediction: what an export folder offers, and the predictor that
runs it with the backend asked for (or the one ``auto`` picks, :mod:`src.deploy.backends`).

A reference is an export folder, or a run (its folder, a checkpoint, ``latest``,
``latest:<task_name>``) whose ``export/onnx`` and ``export/hf`` folders offer the backends.
Torch is imported only when a PyTorch backend is chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.deploy.backends import (
    AUTO,
    BACKENDS,
    MEASURED_FILE,
    ONNX_INT8,
    PRECISIONS,
    PYTORCH_BF16,
    PYTORCH_FP32,
    check_backend,
    choose_backend,
    torch_installed,
)
from src.deploy.folder import (
    QUANTIZATION,
    export_folders,
    open_export_folder,
    read_export_config,
    read_json,
)
from src.deploy.predictors import ONNX_VARIANTS, OnnxPredictor, Predictor
from src.errors import TextlabError
from src.tasks.output import TUNED


def offered_backends(folder_config: dict[str, Any]) -> list[str]:
    """The backends an export folder can run (PyTorch ones only where torch is installed)."""
    if folder_config.get("format") == "onnx":
        files = folder_config.get("model_files", {})
        return [name for name, variant in ONNX_VARIANTS.items() if variant in files]
    if folder_config.get("format") == "hf" and torch_installed():
        return [PYTORCH_FP32, PYTORCH_BF16]
    return []


def int8_not_passed(offers: dict[str, Path]) -> list[str]:
    """``[onnx-int8]`` when it is offered without a ``pass`` verdict in its folder's
    ``quantization.json`` (``auto`` must not serve it; asked for by name it still runs)."""
    folder = offers.get(ONNX_INT8)
    if folder is None:
        return []
    try:
        record = read_json(folder / QUANTIZATION)
    except TextlabError:
        record = None
    verdict = record.get("verdict") if isinstance(record, dict) else None
    return [] if verdict == "pass" else [ONNX_INT8]


def _how_to_get(backend: str) -> str:
    if BACKENDS[backend] == "hf":
        return "export it with format=hf (PyTorch backends need torch installed)"
    if backend == ONNX_INT8:
        return "export it with format=onnx quantize=true"
    return "export it with format=onnx"


def load_predictor(
    reference: str | Path,
    backend: str = AUTO,
    batch_size: int = 32,
    thresholds: Any = TUNED,
    log_dir: str | Path = "logs",
    measured_file: str | Path | None = MEASURED_FILE,
    allowed: tuple[str, ...] = tuple(BACKENDS),
) -> Predictor:
    """A predictor for an export: ``reference`` is an export folder, or a run (its folder, a
    checkpoint, ``latest``, ``latest:<task_name>``) whose ``export/onnx`` and ``export/hf``
    folders offer the backends. ``thresholds``: ``tuned`` (the export's) or one number.

    The predictor's ``name`` is its backend and ``choice`` says why it was picked;
    ``allowed`` limits the backends considered (``src.onnx_predict``: ONNX only).
    """
    check_backend(backend, (AUTO, *allowed))
    offers: dict[str, Path] = {}
    for found in export_folders(reference, log_dir):
        for name in offered_backends(read_export_config(found)):
            if name in allowed:
                offers.setdefault(name, found)
    if backend == AUTO:
        unchecked = int8_not_passed(offers)
        offers = {name: folder for name, folder in offers.items() if name not in unchecked}
        if not offers:
            raise TextlabError(
                f"{reference} offers no backend this machine can run (an HF export needs "
                "torch); export it with format=onnx"
            )
        backend, why = choose_backend(list(offers), measured_file)
        if unchecked:
            why += f"; {ONNX_INT8} left out: its {QUANTIZATION} verdict is not pass"
    elif backend not in offers:
        have = sorted(offers) or "none"
        raise TextlabError(
            f"backend={backend} is not available for {reference} (it offers {have}); "
            f"{_how_to_get(backend)}"
        )
    else:
        why = "asked for"
    folder = open_export_folder(offers[backend])
    try:
        if BACKENDS[backend] == "onnx":
            predictor: Predictor = OnnxPredictor(
                folder, ONNX_VARIANTS[backend], batch_size, thresholds
            )
        else:
            from src.deploy.torch_predictors import TorchPredictor

            predictor = TorchPredictor.from_export(
                folder, PRECISIONS[backend], batch_size, thresholds
            )
    except TextlabError:
        raise
    except Exception as err:  # noqa: BLE001  (a crafted folder fails in any library)
        reason = " ".join(str(err).split())[:240]
        raise TextlabError(
            f"export folder {folder.path} cannot be loaded ({type(err).__name__}: {reason}); "
            "export the model again"
        ) from None
    predictor.check_model(folder.path)
    predictor.choice = why
    return predictor
