"""The prediction service under hostile input and load: arbitrary JSON bodies, strings and bytes
(property-based, hypothesis) never get a 5xx, and 8 concurrent clients mixing good and bad
requests get only 2xx/4xx, each good request its own texts' predictions."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.deploy.exporter import export_run
from src.deploy.service import create_app

ROOT = Path(__file__).resolve().parents[2]
MAX_TEXTS = 16
MAX_BODY = 20_000
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: a failure reproduces
    database=None,
)

#: any character, lone surrogates and control characters included
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(alphabet=ANY_CHAR, max_size=40)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(ANY_TEXT | st.just("texts"), children, max_size=5)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def export_dir(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_run(tiny_run, "onnx", tmp_path_factory.mktemp("fuzz") / "onnx")


@pytest.fixture(scope="module")
def client(export_dir: Path) -> TestClient:
    app = create_app(
        export_dir, max_texts=MAX_TEXTS, max_body_bytes=MAX_BODY, batch_size=8,
        backend="onnx-fp32",
    )  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def check_answer(response: httpx.Response) -> None:
    """2xx with predictions, or 4xx with a one-line detail; never 5xx."""
    assert response.status_code < 500, response.text[:500]
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body["detail"], str) and "\n" not in body["detail"], body
    else:
        assert len(body["predictions"]) >= 1


def post(client: TestClient, content: bytes) -> httpx.Response:
    return client.post("/predict", content=content, headers={"content-type": "application/json"})


@FUZZ
@given(body=JSON_VALUES)
def test_any_json_body_gets_no_5xx(client: TestClient, body) -> None:
    check_answer(post(client, json.dumps(body).encode()))


@FUZZ
@given(texts=st.lists(ANY_TEXT, max_size=MAX_TEXTS + 2))
def test_any_list_of_strings_gets_no_5xx(client: TestClient, texts: list[str]) -> None:
    """Strings with lone surrogates, NULs, control characters, nothing but whitespace..."""
    response = post(client, json.dumps({"texts": texts}).encode())
    check_answer(response)
    if response.status_code == 200:
        assert [p["text"] for p in response.json()["predictions"]] == texts


@FUZZ
@given(content=st.binary(max_size=300))
def test_any_bytes_get_no_5xx(client: TestClient, content: bytes) -> None:
    check_answer(post(client, content))
    check_answer(post(client, b'{"texts": ["' + content + b'"]}'))


@pytest.mark.parametrize(
    "content",
    [
        b'{"texts":["\\ud800"]}',
        b'{"texts":["\\udc00\\ud800 x"]}',
        b'{"texts": ["ok"], "texts": 5}',
        b"[" * 5000 + b"]" * 5000,  # deeper than the JSON parser recurses
        b'{"texts": ["' + "\u0000\u200b\u202e".encode() + b'"]}',
        b'{"texts": ["\xff\xfe"]}',
        b'{"texts": [1e999]}',
        b'{"texts": [NaN]}',
    ],
)
def test_known_nasty_bodies(client: TestClient, content: bytes) -> None:
    check_answer(post(client, content))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


GOOD = [
    ["you are a wonderful person"],
    ["I don't like you", 'she said "hello"', "Ünïcödé 🙂"],
    ["this is a long comment " * 40],
    [f"text number {i}" for i in range(MAX_TEXTS)],
]
BAD = [
    b'{"texts":["\\ud800"]}',
    b'{"texts": []}',
    b'{"texts": "one"}',
    b"{",
    json.dumps({"texts": ["x"] * (MAX_TEXTS + 1)}).encode(),
]


def test_eight_concurrent_clients_get_no_5xx(export_dir: Path) -> None:
    """A real server (uvicorn), 8 clients at once for a bounded number of requests: good ones
    get their own texts back, bad ones a 4xx, none a 5xx; the server stays up."""
    port = free_port()
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable, "-m", "src.serve", f"export_dir={export_dir}", f"port={port}",
            "backend=onnx-fp32", "batch_size=8", f"max_texts={MAX_TEXTS}",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(12):
                if (index + i) % 3 == 2:
                    content = BAD[(index + i) % len(BAD)]
                    response = http.post(
                        "/predict", content=content, headers={"content-type": "application/json"}
                    )
                    ok = 400 <= response.status_code < 500
                else:
                    texts = GOOD[(index + i) % len(GOOD)]
                    response = http.post("/predict", json={"texts": texts})
                    ok = (
                        response.status_code == 200
                        and [p["text"] for p in response.json()["predictions"]] == texts
                    )
                with lock:
                    statuses.append(response.status_code)
                    if not ok:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{url}/health", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "server did not start in 90 s"
                time.sleep(0.3)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        assert not any(thread.is_alive() for thread in threads), "clients did not finish"
        assert len(statuses) == 96 and failures == [], failures[:5]
        assert max(statuses) < 500
        assert httpx.get(f"{url}/health", timeout=5).json()["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=30)
