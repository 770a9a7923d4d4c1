"""`python -m src.serve export_dir=<export or run> [backend=auto host=127.0.0.1 port=8000 ...]`:
the HTTP prediction service (``src.deploy.service``).

``export_dir``: an export folder, or a run (folder, ``latest``, ``latest:<task_name>``) whose
``export/onnx`` and ``export/hf`` folders offer the backends; ``backend=auto`` serves the fastest
one measured on this machine (``src.deploy.backends``). What clients may hold (connections,
time, bytes) is bounded (``src.deploy.limits``); ``token`` (or ``TEXTLAB_SERVE_TOKEN``)
requires a bearer token on every path but ``/health``.
"""

import os
import socket
import sys
from dataclasses import dataclass
from typing import ClassVar

import hydra
from omegaconf import DictConfig

from src.config import Rule, at_least, one_of, validated
from src.deploy.backends import AUTO, BACKENDS, passive_threads
from src.deploy.folder import export_folders
from src.errors import TextlabError, report_user_errors


@dataclass
class ServeSchema:
    host: str = "127.0.0.1"
    port: int = 8000
    backend: str = AUTO
    batch_size: int = 32
    max_texts: int = 64
    max_body_bytes: int = 1_000_000
    batch_tokens: int = 2048
    max_connections: int = 64
    timeout_keep_alive: float = 5.0
    timeout_request: float = 10.0
    token: str | None = None
    rules: ClassVar[dict[str, Rule]] = {
        "port": (lambda v: 1 <= v <= 65535, "an integer in [1, 65535]"),
        "backend": one_of(AUTO, *BACKENDS),
        "batch_size": at_least(1),
        "max_texts": at_least(1),
        "max_body_bytes": at_least(1),
        "batch_tokens": at_least(1),
        "max_connections": at_least(2),
        "timeout_keep_alive": (lambda v: v > 0, "a number of seconds > 0"),
        "timeout_request": (lambda v: v > 0, "a number of seconds > 0"),
    }


#: the environment variable a token may come from (kept out of the command line and logs)
TOKEN_VARIABLE = "TEXTLAB_SERVE_TOKEN"


def check_listen(host: str, port: int) -> None:
    """Fail in one line, before the model loads, when ``host:port`` cannot be listened on."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise TextlabError(f"host={host}: {reason}; use an address such as 127.0.0.1") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as err:
            reason = err.strerror or str(err)
            raise TextlabError(
                f"cannot listen on {host}:{port}: {reason}; choose another port= or host="
            ) from None


@hydra.main(version_base="1.3", config_path="../conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    passive_threads()  # before torch loads
    import uvicorn

    from src.deploy.limits import ensure_open_files, exposure_warning, uvicorn_options
    from src.deploy.service import create_app

    with report_user_errors():
        settings = validated(cfg, ServeSchema)
        token = settings.token or os.environ.get(TOKEN_VARIABLE) or None
        export_folders(cfg.get("export_dir"), cfg.paths.log_dir)  # a wrong path first
        check_listen(settings.host, settings.port)
        problem = ensure_open_files(settings.max_connections)
        if problem:
            raise TextlabError(problem)
        app = create_app(
            cfg.get("export_dir"),
            max_texts=settings.max_texts,
            max_body_bytes=settings.max_body_bytes,
            batch_size=settings.batch_size,
            backend=settings.backend,
            thresholds=cfg.thresholds,
            log_dir=cfg.paths.log_dir,
            token=token,
            timeout_request_s=settings.timeout_request,
            batch_tokens=settings.batch_tokens,
        )
    warning = exposure_warning(settings.host, settings.port, token)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(
        f"serving {app.state.predictor.name} on http://{settings.host}:{settings.port}"
        + (" (token required)" if token else ""),
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        **uvicorn_options(
            settings.max_connections, settings.timeout_keep_alive, settings.timeout_request
        ),
    )


if __name__ == "__main__":
    main()
