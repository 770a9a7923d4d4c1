"""The HTTP prediction service: the model loaded once at start-up, requests merged into batches.

Endpoints: ``POST /predict`` (the predictions of ``src.tasks.formats``, wrapped with the
backend and task), ``GET /labels``, ``GET``/``HEAD /health``, and FastAPI's ``/openapi.json``
and ``/docs``. Every task is served (multi-label, multi-class, token tagging). Every bad
request gets a 4xx with a one-line JSON ``detail`` (400 malformed JSON, 401 no token, 408 body
too slow, 413 too large, 415 not JSON, 422 wrong shape, type or text); a request the model
fails on gets 422 (bad input) or 500, in JSON, alone; none stops the process.

One model call runs at a time (the cores are the model's); requests that arrive while it
runs wait and are merged into the next batches (:class:`Batcher`), which a big request cannot
monopolise. ``python -m src.serve`` runs :func:`create_app` under uvicorn
(``src.deploy.limits`` bounds what clients can hold); tests use it with TestClient.
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

from src.deploy.backends import AUTO
from src.deploy.limits import BearerToken, BodyLimits, printable
from src.deploy.predictors import check_texts
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
    code: {"model": ErrorResponse} for code in (400, 401, 408, 413, 415, 422, 500, 503)
}


# -- bad requests -----------------------------------------------------------------------------
def error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": printable(" ".join(detail.split()), 1000)}, status)


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


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unforeseen: 500 with a JSON line, never Starlette's plain-text page."""
    return error(500, f"internal error ({type(exc).__name__}); the service goes on")


# -- merging concurrent requests --------------------------------------------------------------
#: tokens (the model's input, unpadded) one batch of the service holds at most, past its first
#: text: the longest a request waits for the batch in progress
BATCH_TOKENS = 2048


@dataclass(eq=False)  # hashable by identity
class _Job:
    texts: list[str]
    contexts: list[str] | None = None
    future: Future = field(default_factory=Future)
    #: what the model reads of each text (encoded when the model thread takes the job)
    inputs: list[Any] = field(default_factory=list)
    probs: list[Any] = field(default_factory=list)
    #: texts handed to the model so far
    taken: int = 0


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Hand a request its answer (unless its client gave up and cancelled it)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Batcher:
    """A worker thread that owns the model. Requests are encoded as the thread takes them
    (only what the model reads of each text, ``TextEncoder``), then run in batches of at most
    ``max_texts`` texts and ``max_tokens`` tokens, filled round robin from the waiting
    requests (one text of each in turn, the least served and then the shortest first): a big
    request is split over several batches, and a short one arriving meanwhile rides in the
    next batch instead of waiting for all of it, while big ones still advance every batch.
    Nothing waits on purpose: a lone request runs at once. A batch that fails is run
    again request by request, so only the request that fails gets the error."""

    def __init__(self, predictor: Any, max_texts: int, max_tokens: int = BATCH_TOKENS) -> None:
        self.predictor = predictor
        self.max_texts = max_texts
        self.max_tokens = max_tokens
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.waiting: list[_Job] = []  # the model thread's own
        self.thread = threading.Thread(target=self._work, name="model", daemon=True)
        self.thread.start()

    def submit(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> Future:
        job = _Job(list(texts), None if contexts is None else list(contexts))
        self.jobs.put(job)
        return job.future

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=30)

    def _admit(self, job: _Job) -> None:
        try:
            job.inputs = self.predictor.encode(job.texts, job.contexts)
        except BaseException as err:  # noqa: BLE001  (this request's alone)
            _settle(job.future, error=err)
            return
        job.probs = [None] * len(job.texts)
        self.waiting.append(job)

    def _collect(self) -> bool:
        """Take the requests queued so far (waiting for one when none is); False: stop."""
        while True:
            try:
                job = self.jobs.get(block=not self.waiting)
            except queue.Empty:
                return True
            if job is None:
                return False
            self._admit(job)

    def plan(self) -> list[tuple[_Job, int]]:
        """The next batch: (request, text index) pairs, round robin over the waiting requests."""
        self.waiting = [job for job in self.waiting if not job.future.done()]  # cancelled
        batch: list[tuple[_Job, int]] = []
        tokens = 0
        cursor = {id(job): job.taken for job in self.waiting}
        # the least served first, then the shortest: a request that just came (short ones
        # above all) goes before the rest of requests already under way
        order = sorted(self.waiting, key=lambda job: (job.taken, len(job.texts)))
        while True:
            added = False
            for job in order:
                i = cursor[id(job)]
                if i >= len(job.texts):
                    continue
                cost = len(job.inputs[i].ids)
                if batch and (len(batch) >= self.max_texts or tokens + cost > self.max_tokens):
                    return batch
                batch.append((job, i))
                tokens += cost
                cursor[id(job)] = i + 1
                added = True
            if not added:
                return batch

    def _run(self, batch: list[tuple[_Job, int]]) -> None:
        for job, _ in batch:
            job.taken += 1
        try:
            probs = self.predictor.probabilities_of([job.inputs[i] for job, i in batch])
        except BaseException:  # noqa: BLE001  (find the request that fails: each alone)
            for job in dict.fromkeys(job for job, _ in batch):
                mine = [i for other, i in batch if other is job]
                try:
                    for i, p in zip(mine, self.predictor.probabilities_of(
                        [job.inputs[i] for i in mine]), strict=True):  # fmt: skip
                        job.probs[i] = p
                except BaseException as err:  # noqa: BLE001
                    _settle(job.future, error=err)
            return
        for (job, i), p in zip(batch, probs, strict=True):
            job.probs[i] = p

    def _finish(self) -> None:
        for job in [job for job in self.waiting if job.taken == len(job.texts)]:
            self.waiting.remove(job)
            if job.future.done():
                continue
            try:
                _settle(job.future, self.predictor.finish(job.texts, job.inputs, job.probs))
            except BaseException as err:  # noqa: BLE001
                _settle(job.future, error=err)

    def _work(self) -> None:
        while self._collect():
            try:
                batch = self.plan()
                if batch:
                    self._run(batch)
                self._finish()
            except BaseException as err:  # noqa: BLE001  (a bug here must not stop the thread)
                for job in self.waiting:
                    _settle(job.future, error=err)
                self.waiting = []


# -- the app ----------------------------------------------------------------------------------
def create_app(
    export_dir: str | Path,
    max_texts: int = 64,
    max_body_bytes: int = 1_000_000,
    batch_size: int = 32,
    backend: str = AUTO,
    thresholds: Any = TUNED,
    log_dir: str | Path = "logs",
    token: str | None = None,
    timeout_request_s: float = 10.0,
    batch_tokens: int = BATCH_TOKENS,
) -> FastAPI:
    """Load the model once and return the app (uvicorn serves it; tests use TestClient).

    ``export_dir``: an export folder, or a run (folder, checkpoint, ``latest``) whose exports
    offer the backends; ``backend``: ``auto`` or one of ``src.deploy.backends.BACKENDS``;
    ``token``: every path but ``/health`` needs ``Authorization: Bearer <token>`` (None: no
    authentication); ``timeout_request_s``: a body must arrive within this many seconds;
    ``batch_tokens``: tokens one batch holds at most (:class:`Batcher`).
    """
    for name, value in (
        ("max_texts", max_texts), ("max_body_bytes", max_body_bytes),
        ("batch_tokens", batch_tokens),
    ):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TextlabError(f"{name} must be an integer >= 1, got {value!r}")
    if token is not None and not str(token).strip():
        raise TextlabError("token is empty; set a secret string, or leave it unset (null)")
    predictor = load_predictor(export_dir, backend, batch_size, thresholds, log_dir)
    predictor.predict(["warm-up"])  # the first call of a backend is slow; not a request's
    about, labels = predictor.about, predictor.labels
    batcher = Batcher(predictor, max(batch_size, 1), batch_tokens)

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
    app.add_middleware(BodyLimits, max_bytes=max_body_bytes, timeout_s=timeout_request_s)
    if token is not None:  # outermost: no body is read for a client without the token
        app.add_middleware(BearerToken, token=str(token).strip())
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
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
            contexts = predictor.check_contexts(request.context, len(texts))
        except TextlabError as err:
            return error(422, str(err))
        try:
            predictions = await asyncio.wrap_future(batcher.submit(texts, contexts))
        except TextlabError as err:
            return error(422, str(err))
        except Exception as err:  # noqa: BLE001  (this request's alone; the service goes on)
            return error(500, f"the model failed on this request ({type(err).__name__}: {err})")
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
