"""The prediction service: model loaded once at start-up, texts predicted in batches.

Endpoints: ``POST /predict``, ``GET /labels``, ``GET /health``, and FastAPI's ``/openapi.json``
and ``/docs``. Every bad request gets a 4xx with a one-line ``detail``; none stops the process.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import FastAPI, HTTPException

from src.inference.export_folder import MANIFEST, read_json
from src.inference.load import load_predictor
from src.serve.body_limit import BodySizeLimit
from src.serve.errors import install_error_handlers
from src.serve.schemas import (
    ErrorResponse,
    HealthResponse,
    LabelInfo,
    LabelsResponse,
    PredictRequest,
    PredictResponse,
)
from src.utils.errors import TextlabError

BAD_REQUEST = {code: {"model": ErrorResponse} for code in (400, 413, 415, 422)}


def create_app(
    export_dir: str | Path,
    max_texts: int = 64,
    max_body_bytes: int = 1_000_000,
    batch_size: int = 32,
    variant: str = "auto",
) -> FastAPI:
    """Load the export once and return the app (uvicorn serves it; tests use TestClient)."""
    if max_texts < 1 or max_body_bytes < 1:
        raise TextlabError(
            f"max_texts and max_body_bytes must be >= 1, got {max_texts} and {max_body_bytes}"
        )
    predictor = load_predictor(export_dir, variant, batch_size)
    folder = predictor.folder
    manifest = read_json(folder.path / MANIFEST)
    model_lock = threading.Lock()  # one model call at a time: the cores are the model's

    app = FastAPI(
        title="textlab prediction service",
        description=f"Multi-label text classification with {folder.config['backbone']} "
        f"({folder.config['pooling']} pooling), {predictor.name}.",
        version="1",
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    install_error_handlers(app)

    @app.post("/predict", response_model=PredictResponse, responses=BAD_REQUEST)
    def predict(request: PredictRequest) -> PredictResponse:
        """Every label's probability per text, and the labels its tuned threshold selects."""
        texts = request.texts
        if len(texts) > max_texts:
            raise HTTPException(
                413, f"{len(texts)} texts in one request, over max_texts={max_texts}; split it"
            )
        blank = [i for i, text in enumerate(texts) if not text.strip()]
        if blank:
            raise HTTPException(
                422, f"texts {blank} are empty or whitespace only; send non-empty texts"
            )
        with model_lock:
            predictions = predictor.predict(texts)
        return PredictResponse(model=predictor.name, predictions=predictions)

    @app.get("/labels", response_model=LabelsResponse)
    def labels() -> LabelsResponse:
        """Label names and the threshold each one is predicted at."""
        return LabelsResponse(
            labels=[
                LabelInfo(name=n, threshold=t)
                for n, t in zip(folder.label_names, folder.threshold_list, strict=True)
            ],
            metric=folder.thresholds.get("metric"),
            thresholds_source=manifest.get("thresholds_source", "unknown"),
        )

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        return HealthResponse(
            status="ok",
            model=predictor.name,
            format=folder.format,
            labels=len(folder.label_names),
            max_length=folder.max_length,
        )

    return app
