"""The HTTP prediction service: the model loaded once at start-up, texts predicted in batches.

Endpoints: ``POST /predict``, ``GET /labels``, ``GET /health``, and FastAPI's ``/openapi.json``
and ``/docs``. Every bad request gets a 4xx with a one-line ``detail`` (400 malformed JSON,
413 too large, 415 not JSON, 422 wrong shape or type); none stops the process.
``python -m src.serve`` runs :func:`create_app` under uvicorn; tests use it with TestClient.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.types import ASGIApp, Receive, Scope, Send

from src.deploy.folder import MANIFEST, read_json
from src.deploy.predictors import load_predictor
from src.errors import TextlabError


# -- request and response bodies (they make up the OpenAPI schema) --------------------------
class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"texts": ["thanks for the edit", "you are an idiot"]}]},
    )

    texts: list[StrictStr] = Field(
        min_length=1,
        description="Texts to classify (non-empty; longer than max_length tokens: truncated).",
    )


class Prediction(BaseModel):
    probabilities: dict[str, float] = Field(description="Every label's probability.")
    labels: list[str] = Field(description="Labels whose probability >= their tuned threshold.")


class PredictResponse(BaseModel):
    model: str
    predictions: list[Prediction]


class LabelInfo(BaseModel):
    name: str
    threshold: float


class LabelsResponse(BaseModel):
    labels: list[LabelInfo]
    metric: str | None = Field(description="What the thresholds were tuned for (null: default).")
    thresholds_source: str


class HealthResponse(BaseModel):
    status: str
    model: str
    format: str
    labels: int
    max_length: int


class ErrorResponse(BaseModel):
    detail: str


BAD_REQUEST = {code: {"model": ErrorResponse} for code in (400, 413, 415, 422)}


# -- bad requests -----------------------------------------------------------------------------
class BodySizeLimit:
    """Pure ASGI middleware rejecting bodies over ``max_bytes`` with 413 before anything
    parses them: the declared Content-Length first, then the bytes actually received (a
    chunked body declares none), so an oversized body is never read past the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: str) -> None:
        detail = f"request body is {size} bytes, over the {self.max_bytes}-byte limit; send less"
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send, declared.decode())
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, receive, send, f"over {size}")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        pending: dict[str, Any] | None = {
            "type": "http.request",
            "body": b"".join(chunks),
            "more_body": False,
        }

        async def replay() -> dict[str, Any]:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return message
            return await receive()

        await self.app(scope, replay, send)


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's validation errors as one line: 415 not JSON, 400 malformed, 422 wrong shape."""
    errors = exc.errors()
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type:
        detail = f"content-type {content_type or '(none)'} is not JSON; send application/json"
        return JSONResponse({"detail": detail}, status_code=415)
    if any(error.get("type") == "json_invalid" for error in errors):
        reason = next(e.get("ctx", {}).get("error", "") for e in errors)
        detail = f'malformed JSON body ({reason}); send {{"texts": ["..."]}}'
        return JSONResponse({"detail": detail}, status_code=400)
    messages = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors[:5])
    detail = f'invalid request: {messages}; send {{"texts": ["...", ...]}}'
    return JSONResponse({"detail": detail}, status_code=422)


# -- the app ----------------------------------------------------------------------------------
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
    if not folder.output.per_label_thresholds:
        raise TextlabError(
            f"{folder.path} is a {folder.task_name} export; the service serves multi-label "
            "classifiers (labels cut at their thresholds) only"
        )
    manifest = read_json(folder.path / MANIFEST)
    model_lock = threading.Lock()  # one model call at a time: the cores are the model's

    app = FastAPI(
        title="textlab prediction service",
        description=f"Multi-label text classification with {folder.config['backbone']} "
        f"({folder.config['pooling']} pooling), {predictor.name}.",
        version="1",
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error)

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
