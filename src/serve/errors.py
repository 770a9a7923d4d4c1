"""Bad requests as one clear line: 400 malformed JSON, 415 not JSON, 422 wrong shape or type."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
