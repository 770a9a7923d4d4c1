"""The HTTP prediction service: the model loaded once at start-up, requests merged into batches.

Endpoints: ``POST /predict`` (the predictions of ``src.tasks.formats``, wrapped with the
backend and task), ``GET /labels``, ``GET``/``HEAD /health``, and FastAPI's ``/openapi.json``
and ``/docs``. Every task is served (multi-label, multi-class, token tagging). Every bad
request gets a 4xx with a one-line ``detail`` (400 malformed JSON, 413 too large, 415 not JSON,
422 wrong shape, type or text); none stops the process.

One model call runs at a time (the cores are the model's); requests that arrive while it
runs wait in a queue and are merged into the next call (up to ``batch_size`` texts), so
concurrent single-text clients share batches instead of queueing one by one.
``python -m src.serve`` runs :func:`create_app` under uvicorn; tests use it with TestClient.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.deploy.backends import AUTO
from src.deploy.predictors import Predictor, check_contexts, check_texts
from src.deploy.references import load_predictor
from src.errors import TextlabError
from src.tasks.formats import Prediction
from src.tasks.output import TUNED


# -- request and response bodies (they make up the OpenAPI schema) --------------------------
class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"texts": ["thanks for the edit", "you are an idiot"]}]},
    )

    texts: list[StrictStr] = Field(
        min_length=1,
        description="Texts to predict (non-empty; longer than max_length tokens: truncated).",
    )
    context: list[StrictStr] | None = Field(
        default=None,
        description="Token taggers only: one string per text, the sentences before it in its "
        'document ("" for none). The tagger reads it before the text and tags only the text, '
        "as training with data.context_sentences did; it gives up its positions first when "
        "the two exceed max_length.",
    )


class PredictResponse(BaseModel):
    backend: str = Field(description="What computed the predictions, e.g. pytorch-bf16.")
    task: str = Field(description="multilabel, multiclass or token.")
    predictions: list[Prediction] = Field(description="One per text, in request order.")


class LabelInfo(BaseModel):
    name: str
    threshold: float | None = Field(description="Multi-label: its threshold; else null.")


class LabelsResponse(BaseModel):
    task: str
    labels: list[LabelInfo]
    threshold_source: str | None = Field(
        description="Multi-label: tuned, default (0.5) or fixed; else null."
    )
    metric: str | None = Field(description="What tuned thresholds were tuned for.")


class HealthResponse(BaseModel):
    status: str
    backend: str = Field(description="pytorch-fp32, pytorch-bf16, onnx-fp32 or onnx-int8.")
    backend_choice: str = Field(description="Why this backend (backend=auto: the measurement).")
    task: str
    backbone: str | None
    labels: int = Field(description="How many labels (classes, tags).")
    max_length: int
    context_sentences: int = Field(
        default=0,
        description="Sentences before each text the tagger was trained to read; send them as "
        '"context" (0: the texts alone).',
    )


class ErrorResponse(BaseModel):
    detail: str


BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422)
}


# -- bad requests -----------------------------------------------------------------------------
def printable(text: str, limit: int = 200) -> str:
    """Text safe to put in a JSON answer (no lone surrogates) and short."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."


def error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": printable(" ".join(detail.split()), 1000)}, status)


class BodySizeLimit:
    """Pure ASGI middleware rejecting bodies over ``max_bytes`` with 413 before anything
    parses them: the declared Content-Length first, then the bytes actually received (a
    chunked body declares none), so an oversized body is never read past the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: str) -> None:
        detail = f"request body is {size} bytes, over the {self.max_bytes}-byte limit; send less"
        await error(413, detail)(scope, receive, send)

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

        async def replay() -> Message:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return message
            return await receive()

        await self.app(scope, replay, send)


def _where(loc: tuple) -> str:
    parts = [printable(str(p), 40) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation errors as one line: 415 not JSON, 400 malformed, 422 wrong shape."""
    assert isinstance(exc, RequestValidationError)  # the class it is registered for
    errors = exc.errors()
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower():
        return error(
            415, f"content-type {content_type or '(none)'} is not JSON; send application/json"
        )
    if any(e.get("type") == "json_invalid" for e in errors):
        reason = next(str(e.get("ctx", {}).get("error", "")) for e in errors)
        return error(400, f'malformed JSON body ({reason}); send {{"texts": ["..."]}}')
    messages = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors[:5])
    return error(422, f'invalid request: {messages}; send {{"texts": ["...", ...]}}')


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (405, 404, a body it cannot parse) as one printable line."""
    assert isinstance(exc, HTTPException)  # the class it is registered for
    return error(exc.status_code, str(exc.detail))


# -- merging concurrent requests --------------------------------------------------------------
@dataclass
class _Job:
    texts: list[str]
    contexts: list[str] | None = None
    future: Future = field(default_factory=Future)


class Batcher:
    """A worker thread that owns the model: it takes the oldest request and every request
    queued behind it (up to ``max_texts`` texts in all), predicts them in one call and hands
    each request its share. Nothing waits on purpose: a lone request runs at once."""

    def __init__(self, predictor: Predictor, max_texts: int) -> None:
        self.predictor = predictor
        self.max_texts = max_texts
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="model", daemon=True)
        self.thread.start()

    def submit(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> Future:
        job = _Job(list(texts), None if contexts is None else list(contexts))
        self.jobs.put(job)
        return job.future

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=30)

    def _take(self) -> list[_Job] | None:
        first = self.jobs.get()
        if first is None:
            return None
        taken, count = [first], len(first.texts)
        while count < self.max_texts:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self.jobs.put(None)  # stop after this batch
                break
            taken.append(job)
            count += len(job.texts)
        return taken

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            texts = [text for job in taken for text in job.texts]
            contexts = None  # an empty context changes nothing, so jobs without one mix in
            if any(job.contexts is not None for job in taken):
                contexts = [c for job in taken for c in job.contexts or [""] * len(job.texts)]
            try:
                predictions = self.predictor.predict_unchecked(texts, contexts)
            except BaseException as err:  # noqa: BLE001  (handed to the waiting requests)
                for job in taken:
                    job.future.set_exception(err)
                continue
            start = 0
            for job in taken:
                job.future.set_result(predictions[start : start + len(job.texts)])
                start += len(job.texts)


# -- the app ----------------------------------------------------------------------------------
def create_app(
    export_dir: str | Path,
    max_texts: int = 64,
    max_body_bytes: int = 1_000_000,
    batch_size: int = 32,
    backend: str = AUTO,
    thresholds: Any = TUNED,
    log_dir: str | Path = "logs",
) -> FastAPI:
    """Load the model once and return the app (uvicorn serves it; tests use TestClient).

    ``export_dir``: an export folder, or a run (folder, checkpoint, ``latest``) whose exports
    offer the backends; ``backend``: ``auto`` or one of ``src.deploy.backends.BACKENDS``.
    """
    for name, value in (("max_texts", max_texts), ("max_body_bytes", max_body_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TextlabError(f"{name} must be an integer >= 1, got {value!r}")
    predictor = load_predictor(export_dir, backend, batch_size, thresholds, log_dir)
    predictor.predict(["warm-up"])  # the first call of a backend is slow; not a request's
    about, labels = predictor.about, predictor.labels
    batcher = Batcher(predictor, max(batch_size, 1))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(
        title="textlab prediction service",
        description=f"{about.get('task')} predictions of {about.get('backbone')} "
        f"(max_length {about.get('max_length')}) on {predictor.name}.",
        version="2",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.state.predictor = predictor

    @app.post("/predict", response_model=PredictResponse, responses=BAD_REQUEST)
    async def predict(request: PredictRequest) -> Any:
        """One prediction per text (the schema of its task), in request order."""
        texts = request.texts
        if len(texts) > max_texts:
            return error(
                413, f"{len(texts)} texts in one request, over max_texts={max_texts}; split it"
            )
        try:
            check_texts(texts)
            contexts = check_contexts(request.context, len(texts), predictor.output)
        except TextlabError as err:
            return error(422, str(err))
        try:
            predictions = await asyncio.wrap_future(batcher.submit(texts, contexts))
        except TextlabError as err:
            return error(422, str(err))
        return {"backend": predictor.name, "task": predictor.task_name, "predictions": predictions}

    @app.get("/labels", response_model=LabelsResponse)
    def labels_endpoint() -> LabelsResponse:
        """Label names, and for multi-label models the threshold each one is predicted at."""
        cuts = labels.thresholds or (None,) * len(labels.names)
        return LabelsResponse(
            task=predictor.task_name,
            labels=[
                LabelInfo(name=n, threshold=t) for n, t in zip(labels.names, cuts, strict=True)
            ],
            threshold_source=labels.threshold_source,
            metric=about.get("threshold_metric") if labels.threshold_source == TUNED else None,
        )

    @app.api_route("/health", methods=["GET", "HEAD"], response_model=HealthResponse)
    def health() -> HealthResponse:
        """The backend that serves, why, and what the model is."""
        return HealthResponse(
            status="ok",
            backend=predictor.name,
            backend_choice=predictor.choice,
            task=predictor.task_name,
            backbone=about.get("backbone"),
            labels=len(labels.names),
            max_length=int(about.get("max_length", 0)),
            context_sentences=int(about.get("context_sentences") or 0),
        )

    return app
