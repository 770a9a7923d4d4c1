"""What keeps the prediction service answering when clients are slow, many, careless or
hostile: bounds on the request body (size, time to arrive, UTF-8), an optional bearer token,
and, under uvicorn, a deadline on a request's head and a cap on open connections.

The ASGI middlewares work under any server (tests use them through ``TestClient``);
:func:`guarded_h11` is uvicorn's h11 protocol with the two checks uvicorn 0.54 lacks: it
times out a connection only while it is idle between requests (``timeout_keep_alive``), so a
client that sends half a request head and stops would hold its socket for ever, and it
accepts every connection, so enough idle ones exhaust the process's open files.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import resource
import socket
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

#: the largest request head h11 buffers (its own default, set explicitly)
MAX_HEAD_BYTES = 16 * 1024
#: open files the process needs beside its connections (model files, logs, sockets)
SPARE_FILES = 64


def printable(text: str, limit: int = 200) -> str:
    """Text safe to put in a JSON answer (no lone surrogates) and short."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."


async def send_error(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A one-line JSON error ``{"detail": ...}``, written straight to the ASGI ``send``."""
    body = json.dumps({"detail": printable(" ".join(detail.split()), 1000)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


#: an answer sent before the whole body was read ends the connection (the rest is unread)
CLOSE = [(b"connection", b"close")]


class BodyLimits:
    """Reads the whole body before the app sees it, and answers in one JSON line instead:
    413 over ``max_bytes`` (the declared Content-Length first, then the bytes received: a
    chunked body declares none), 408 when it has not all arrived ``timeout_s`` after the
    request's head, 422 when a JSON body is not UTF-8."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            size = declared.decode()
            await send_error(send, 413, self._too_large(size), CLOSE)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while more:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                detail = (
                    f"request body not received within {self.timeout_s:g} s ({size} bytes "
                    "came); send the whole body at once"
                )
                await send_error(send, 408, detail, CLOSE)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_error(send, 413, self._too_large(f"over {size}"), CLOSE)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"").lower():
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as err:
                bad = body[err.start : err.start + 1]
                detail = (
                    f"request body is not UTF-8 (byte {err.start}: {bad!r}); send UTF-8 JSON "
                    'such as {"texts": ["..."]}'
                )
                await send_error(send, 422, detail)
                return
        pending: Message | None = {"type": "http.request", "body": body, "more_body": False}

        async def replay() -> Message:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: str) -> str:
        return f"request body is {size} bytes, over the {self.max_bytes}-byte limit; send less"


class BearerToken:
    """Every path but ``open_paths`` needs ``Authorization: Bearer <token>``; else 401 with a
    JSON line, before the body is read. The token is compared in constant time."""

    def __init__(self, app: ASGIApp, token: str, open_paths: tuple[str, ...] = ("/health",)):
        self.app = app
        self.token = token.encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, value = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self.token):
            await self.app(scope, receive, send)
            return
        detail = (
            "missing or wrong token: send the header 'Authorization: Bearer <token>' "
            "(the service's TEXTLAB_SERVE_TOKEN)"
        )
        await send_error(send, 401, detail, [(b"www-authenticate", b"Bearer"), *CLOSE])


def guarded_h11(head_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol that closes a connection whose request head has not fully
    arrived ``head_timeout_s`` after the connection opened (or after its first bytes, for a
    later request on it), and closes at once a connection beyond ``limit_concurrency`` open
    ones (uvicorn itself answers requests beyond it with 503 but keeps their sockets)."""

    class GuardedH11Protocol(H11Protocol):
        head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            limit = self.config.limit_concurrency
            if limit is not None and len(self.connections) > limit:
                transport.close()
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._arm()  # a request head begun, not finished
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self.head_timer is None:
                self.head_timer = self.loop.call_later(head_timeout_s, self._head_too_slow)

        def _disarm(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _head_too_slow(self) -> None:
            self.head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol


def loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (every address it resolves to is
    a loopback one)."""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
        return all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)
    except (OSError, ValueError, UnicodeError):
        return False


def exposure_warning(host: str, port: int, token: str | None) -> str | None:
    """The one-line warning for a service other machines can reach without a token."""
    if token or loopback(host):
        return None
    return (
        f"warning: serving on {host}:{port} without a token: anyone who can reach this port "
        "can use the model; set TEXTLAB_SERVE_TOKEN (or token=), or serve on 127.0.0.1"
    )


def ensure_open_files(max_connections: int) -> str | None:
    """Raise the soft open-files limit to what ``max_connections`` connections need (up to the
    hard limit); a one-line problem when even the hard limit is too low, else None."""
    needed = max_connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    if hard == resource.RLIM_INFINITY or hard >= needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        return None
    return (
        f"max_connections={max_connections} needs about {needed} open files but this process "
        f"may open {hard} (ulimit -n); lower max_connections or raise the limit"
    )


def uvicorn_options(
    max_connections: int, timeout_keep_alive_s: float, timeout_request_s: float
) -> dict[str, Any]:
    """What ``uvicorn.run`` gets beside the app, host and port."""
    return {
        "http": guarded_h11(timeout_request_s),
        "limit_concurrency": max_connections,
        "timeout_keep_alive": timeout_keep_alive_s,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }
