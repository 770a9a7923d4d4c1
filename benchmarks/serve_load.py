"""Load test of the prediction service, per backend: single-text and batched requests from 1
and 8 concurrent clients.

For each backend it starts ``python -m src.serve`` on a free loopback port (127.0.0.1 only),
sends real Jigsaw test texts, and stops the server. Each scenario is bounded by a request count
and a time limit, so the whole run ends by itself. Prints a Markdown table (with the machine,
versions, command and date) and writes it to ``benchmarks/results/serve_load.md``.

    python -m benchmarks.serve_load --run <run with export/onnx (quantize=true) and export/hf>
    python -m benchmarks.serve_load --run <run> --backends auto,pytorch-bf16,onnx-int8

``auto`` is what ``python -m src.serve`` serves by default (``src.deploy.backends``).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def jigsaw_texts(count: int) -> list[str]:
    """Real comments from the shipped Jigsaw test file (non-blank ones)."""
    frame = pd.read_csv(ROOT / "data" / "jigsaw" / "test.csv.gz", nrows=count * 2)
    texts = [t for t in frame["comment_text"].astype(str) if t.strip()]
    return texts[:count]


def start_server(
    export_dir: Path, backend: str, batch_size: int, max_texts: int
) -> tuple[subprocess.Popen, str, dict]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PROJECT_ROOT": str(ROOT)}
    command = [
        sys.executable, "-m", "src.serve", f"export_dir={export_dir}", f"backend={backend}",
        f"host={HOST}", f"port={port}", f"batch_size={batch_size}", f"max_texts={max_texts}",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            assert server.stderr is not None  # stderr=PIPE
            raise SystemExit(f"server failed: {server.stderr.read().decode()[-2000:]}")
        try:
            health = httpx.get(f"{url}/health", timeout=2)
            health.raise_for_status()
            return server, url, health.json()
        except httpx.TransportError:
            time.sleep(0.3)
    server.terminate()
    raise SystemExit("server did not start within 180 s")


def run_scenario(
    url: str, texts: list[str], batch: int, clients: int, requests: int, seconds: float
) -> dict[str, float]:
    """``requests`` requests in all (split over the clients), stopping early at ``seconds``."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    per_client = max(1, requests // clients)

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(per_client):
                if time.monotonic() > stop_at:
                    return
                start = (index * per_client + i) * batch % max(1, len(texts) - batch)
                body = {"texts": texts[start : start + batch]}
                began = time.perf_counter()
                status = http.post("/predict", json=body).status_code
                with lock:
                    latencies.append(time.perf_counter() - began)
                    statuses.append(status)

    with httpx.Client(base_url=url, timeout=120) as http:  # warm-up, not measured
        for _ in range(3):
            http.post("/predict", json={"texts": texts[:batch]}).raise_for_status()
    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": sum(1 for s in statuses if s != 200),
        "texts_per_s": len(ordered) * batch / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
    }


COLUMNS = {
    "backend": "backend",
    "texts/request": "texts/request",
    "clients": "clients",
    "requests": "requests",
    "errors": "non-200",
    "texts_per_s": "texts/s",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
}


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [f"{row[k]:.1f}" if isinstance(row[k], float) else str(row[k]) for k in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versions() -> str:
    from importlib.metadata import version

    names = ("torch", "onnxruntime", "transformers", "fastapi", "uvicorn")
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except Exception:  # noqa: BLE001  (not installed)
            found.append(f"{name} -")
    return ", ".join(found)


def main() -> None:
    from src.deploy.backends import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run folder (or export folder)")
    parser.add_argument("--backends", default="auto", help="comma-separated, e.g. auto,onnx-int8")
    parser.add_argument("--batch", type=int, default=16, help="texts per batched request")
    parser.add_argument("--batch-size", type=int, default=32, help="the server's batch_size")
    parser.add_argument("--requests", type=int, default=160, help="requests per scenario")
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit per scenario")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_load.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    texts = jigsaw_texts(400)
    rows = []
    for backend in args.backends.split(","):
        server, url, health = start_server(args.run, backend, args.batch_size, max(64, args.batch))
        name = backend if backend != "auto" else f"auto = {health['backend']}"
        try:
            for batch in (1, args.batch):
                for clients in (1, 8):
                    result = run_scenario(url, texts, batch, clients, args.requests, args.seconds)
                    rows.append(
                        {"backend": name, "texts/request": batch, "clients": clients, **result}
                    )
                    print(rows[-1], flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)

    markdown = markdown_table(rows)
    about = machine()
    header = (
        f"Load test, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"`python -m benchmarks.serve_load {' '.join(sys.argv[1:])}`\n\n"
        f"{about['cpu']}, {about['cores']} cores; {versions()}. Up to {args.requests} "
        f"requests per scenario (at most {args.seconds:.0f} s), loopback, server batch_size "
        f"{args.batch_size}; 1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (other work shares the cores).\n\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + markdown + "\n")
    print(header + markdown)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
