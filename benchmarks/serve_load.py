"""Load test of the prediction service: PyTorch eager vs ONNX fp32 vs ONNX int8.

For each backend it starts ``python -m src.serve`` on a free loopback port (127.0.0.1 only),
sends real Jigsaw test texts as single-text and batched requests from 1 and 8 concurrent
clients, and stops the server. Each scenario is bounded by a request count and a time limit,
so the whole run ends by itself. Prints a Markdown table and writes it to
``benchmarks/results/serve_load.md``.

    python benchmarks/serve_load.py --onnx-dir <run>/export/onnx --hf-dir <run>/export/hf
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
    """Real comments from the shipped Jigsaw test file (cycled if count is larger)."""
    frame = pd.read_csv(ROOT / "data" / "jigsaw" / "test.csv.gz", nrows=count)
    return frame["comment_text"].astype(str).tolist()


def start_server(export_dir: Path, variant: str, batch_size: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PROJECT_ROOT": str(ROOT)}
    command = [
        sys.executable, "-m", "src.serve", f"export_dir={export_dir}", f"variant={variant}",
        f"host={HOST}", f"port={port}", f"batch_size={batch_size}",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server failed: {server.stderr.read().decode()[-2000:]}")
        try:
            httpx.get(f"{url}/health", timeout=2).raise_for_status()
            return server, url
        except httpx.TransportError:
            time.sleep(0.3)
    server.terminate()
    raise SystemExit("server did not start within 120 s")


def run_scenario(
    url: str, texts: list[str], batch: int, clients: int, requests: int, seconds: float
) -> dict[str, float]:
    """``requests`` requests in all (split over the clients), stopping early at ``seconds``."""
    latencies: list[float] = []
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
                http.post("/predict", json=body).raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - began)

    with httpx.Client(base_url=url, timeout=120) as http:  # warm-up, not measured
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
        "texts_per_s": len(ordered) * batch / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
    }


def markdown_table(rows: list[dict]) -> str:
    columns = ["backend", "texts/request", "clients", "requests", "texts/s", "p50 ms", "p99 ms"]
    keys = ["backend", "texts/request", "clients", "requests", "texts_per_s", "p50_ms", "p99_ms"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row[k]:.1f}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx-dir", type=Path, required=True, help="export with quantize=true")
    parser.add_argument("--hf-dir", type=Path, required=True, help="format=hf export, same run")
    parser.add_argument("--batch", type=int, default=16, help="texts per batched request")
    parser.add_argument("--requests", type=int, default=48, help="requests per scenario")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per scenario")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_load.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    texts = jigsaw_texts(400)
    backends = [
        ("pytorch-eager", args.hf_dir, "auto"),
        ("onnx-fp32", args.onnx_dir, "fp32"),
        ("onnx-int8", args.onnx_dir, "int8"),
    ]
    rows = []
    for name, export_dir, variant in backends:
        server, url = start_server(export_dir, variant, batch_size=args.batch)
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
    header = (
        f"Load test: {args.requests} requests per scenario (at most {args.seconds:.0f} s), "
        f"loopback, {os.cpu_count()} CPU cores (1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after: other work shares them); export {args.onnx_dir}, "
        f"server batch_size {args.batch}.\n\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + markdown + "\n")
    print(markdown)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
