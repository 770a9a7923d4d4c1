"""The service keeps answering: slow and idle clients are timed out, open connections are
capped, long texts cost what the model reads of them, a big request cannot starve short ones,
a failing request fails alone, a token guards it; and every malformed body gets its documented
status code with a JSON body."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from src.deploy.exporter import export_run
from src.errors import TextlabError
from src.tasks.output import ModelInput
from tests.conftest import ROOT
from tests.deploy.export_helpers import untrained_run

MAX_TEXTS = 8
MAX_BODY = 20_000
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def export_dir(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_run(tiny_run, "onnx", tmp_path_factory.mktemp("limits") / "onnx")


@pytest.fixture(scope="module")
def client(export_dir: Path) -> TestClient:
    from src.deploy.service import create_app

    app = create_app(
        export_dir, max_texts=MAX_TEXTS, max_body_bytes=MAX_BODY, batch_size=4,
        backend="onnx-fp32",
    )  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


# -- every malformed body: its documented code, a JSON body ----------------------------------------
JSON_TYPE = {"content-type": "application/json"}
BATTERY = [
    ("bad JSON", b'{"texts": [', JSON_TYPE, 400),
    ("JSON too deep", b"[" * 5000 + b"]" * 5000, JSON_TYPE, 400),
    ("not JSON", b"texts=hello", {"content-type": "text/plain"}, 415),
    ("no content type", b'{"texts": ["a"]}', {}, 415),
    ("texts a string", b'{"texts": "hello"}', JSON_TYPE, 422),
    ("texts numbers", b'{"texts": [1, 2]}', JSON_TYPE, 422),
    ("texts missing", b'{"text": ["a"]}', JSON_TYPE, 422),
    ("a list body", b'["a"]', JSON_TYPE, 422),
    ("empty list", b'{"texts": []}', JSON_TYPE, 422),
    ("an empty text", b'{"texts": [""]}', JSON_TYPE, 422),
    ("zero-width text", json.dumps({"texts": ["\u200b\u200c\ufeff"]}).encode(), JSON_TYPE, 422),
    ("a lone surrogate", b'{"texts": ["\\ud800"]}', JSON_TYPE, 422),
    ("not UTF-8", b'{"texts": ["\xff\xfe caf\xe9"]}', JSON_TYPE, 422),
    ("Latin-1 body", '{"texts": ["café"]}'.encode("latin-1"), JSON_TYPE, 422),
    ("context to a classifier", b'{"texts": ["a"], "context": ["b"]}', JSON_TYPE, 422),
    ("unknown key", b'{"texts": ["a"], "extra": 1}', JSON_TYPE, 422),
    (
        "too many texts",
        json.dumps({"texts": ["x"] * (MAX_TEXTS + 1)}).encode(),
        JSON_TYPE,
        413,
    ),
    ("huge body", json.dumps({"texts": ["x" * MAX_BODY]}).encode(), JSON_TYPE, 413),
]


@pytest.mark.parametrize("name", [case[0] for case in BATTERY])
def test_each_malformed_body_gets_its_code_in_json(client: TestClient, name: str) -> None:
    _, content, headers, status = next(case for case in BATTERY if case[0] == name)
    response = client.post("/predict", content=content, headers=headers)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json", response.text[:300]
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail


def test_zero_width_lines_are_blank_for_the_command_lines_too() -> None:
    from src.deploy.predictors import check_texts, is_blank

    assert is_blank("\u200b \u2060\ufeff\u200e") and not is_blank("a\u200b")
    with pytest.raises(TextlabError, match="empty or whitespace only"):
        check_texts(["ok", "\u200b"])


# -- a tagger trained without context reads no context ---------------------------------------------
def test_context_for_a_tagger_trained_without_it_is_422(
    tmp_path: Path, token_cache_dir: Path
) -> None:
    from src.deploy.references import load_predictor
    from src.deploy.service import create_app

    run = tmp_path / "tagger"
    untrained_run(run, token_cache_dir, "data=wnut17", "model=token_tagger")
    export = export_run(run, "onnx")
    with TestClient(create_app(export, backend="onnx-fp32")) as tagger:
        assert tagger.get("/health").json()["context_sentences"] == 0
        texts = ["He went to Paris"]
        alone = tagger.post("/predict", json={"texts": texts})
        with_context = tagger.post(
            "/predict", json={"texts": texts, "context": ["We flew to New York ."]}
        )
    assert alone.status_code == 200
    assert with_context.status_code == 422, with_context.text
    assert "context_sentences=0" in with_context.json()["detail"]
    with pytest.raises(TextlabError, match="context_sentences=0"):
        load_predictor(export, "onnx-fp32").predict(texts, ["We flew to New York ."])


# -- long texts: only what the model reads is tokenised, with the same tokens ----------------------
class Recording:
    """A tokenizer proxy that records the longest text it was given."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.longest = 0

    def _seen(self, item) -> None:
        size = len(item) if isinstance(item, str) else sum(len(w) + 1 for w in item)
        self.longest = max(self.longest, size)

    def encode(self, item, *args, **kwargs):
        self._seen(item)
        return self.tokenizer.encode(item, *args, **kwargs)

    def encode_batch(self, items, *args, **kwargs):
        for item in items:
            self._seen(item)
        return self.tokenizer.encode_batch(items, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def test_a_long_text_costs_what_the_model_reads_and_gives_the_same_tokens(
    client: TestClient,
) -> None:
    encoder = client.app.state.predictor.encoder
    tokenizer = encoder.tokenizer
    words = [f"w{i % 97}ord" for i in range(200_000)]  # about 1.4 MB
    cases = [
        " ".join(words),
        "a" + " " * 300_000 + "b c " + " ".join(words[:50]),  # whitespace gives no token
        "x" * 5000 + " tail",  # one long word: one [UNK]
        "short text",
    ]
    full = [e.ids for e in tokenizer.encode_batch(cases)]  # truncated at max_length
    recording = Recording(tokenizer)
    encoder.tokenizer = recording
    try:
        got = encoder.token_ids(cases[:1])
        assert recording.longest < 100 * encoder.max_length, recording.longest
        assert got + encoder.token_ids(cases[1:]) == full
        split = [text.split() for text in cases]
        recording.longest = 0
        tagged = encoder.word_encodings(split[:1], [words])
        assert recording.longest < 100 * encoder.max_length, recording.longest
        tagged += encoder.word_encodings(split[1:], [words[:3]] * 3)
    finally:
        encoder.tokenizer = tokenizer
    encoder._context_tokenizer = None
    assert tagged == encoder.word_encodings(split, [words, *[words[:3]] * 3])
    reference = tokenizer.encode_batch(split, is_pretokenized=True)
    assert [ids for ids, _ in encoder.word_encodings(split)] == [e.ids for e in reference]


# -- the model thread: fair batches, failures alone ------------------------------------------------
class Gate:
    """A stand-in predictor (both the Batcher's interfaces, before and after batching by
    tokens): a text is a number of tokens; its probability is its text; the first model
    call waits for ``release``; a text "poison" fails the call it is in."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()

    def _run(self, texts: list[str]) -> list[str]:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.release.wait(20)
        if "poison" in texts:
            raise RuntimeError("poisoned batch")
        return list(texts)

    def encode(self, texts, contexts=None):
        return [ModelInput([0] * int(t.split(":")[1]) if ":" in t else [0], None, t) for t in texts]  # type: ignore[arg-type]  # fmt: skip

    def probabilities_of(self, inputs):
        return self._run([given.words for given in inputs])

    def finish(self, texts, inputs, probs):
        return [{"text": p} for p in probs]

    def predict_unchecked(self, texts, contexts=None):
        return [{"text": p} for p in self._run(list(texts))]


def wait_for_call(model: Gate) -> None:
    deadline = time.monotonic() + 20
    while not model.calls and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_short_request_rides_in_the_next_batch_behind_big_ones() -> None:
    from src.deploy.service import Batcher

    model = Gate()
    batcher = Batcher(model, 32, 400) if _takes_tokens() else Batcher(model, 32)
    first = batcher.submit(["first:10"])
    wait_for_call(model)  # the model is busy: what follows queues
    big = [batcher.submit([f"big{j}-{i}:100" for i in range(32)]) for j in range(4)]
    short = batcher.submit(["short:5"])
    model.release.set()
    assert short.result(20) == [{"text": "short:5"}]
    assert first.result(20) and all(len(f.result(20)) == 32 for f in big)
    batcher.close()
    with_short = next(i for i, call in enumerate(model.calls) if "short:5" in call)
    assert with_short == 1, model.calls  # the batch right after the one in progress
    for call in model.calls:  # at most 400 tokens past a batch's first text
        assert sum(int(t.split(":")[1]) for t in call[1:]) <= 400, call


def _takes_tokens() -> bool:
    import inspect

    from src.deploy.service import Batcher

    return "max_tokens" in inspect.signature(Batcher).parameters


def test_a_failing_request_fails_alone() -> None:
    from src.deploy.service import Batcher

    model = Gate()
    batcher = Batcher(model, 32)
    first = batcher.submit(["first"])
    wait_for_call(model)
    others = [batcher.submit(["a", "b"]), batcher.submit(["poison"]), batcher.submit(["c"])]
    model.release.set()
    assert first.result(20) == [{"text": "first"}]
    assert others[0].result(20) == [{"text": "a"}, {"text": "b"}]
    assert others[2].result(20) == [{"text": "c"}]
    with pytest.raises(RuntimeError, match="poisoned batch"):
        others[1].result(20)
    batcher.close()


# -- a bearer token --------------------------------------------------------------------------------
def test_a_token_guards_every_path_but_health(export_dir: Path) -> None:
    from src.deploy.service import create_app

    app = create_app(export_dir, backend="onnx-fp32", token=TOKEN)
    with TestClient(app) as guarded:
        assert guarded.get("/health").status_code == 200
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
            refused = guarded.post("/predict", json={"texts": ["a"]}, headers=headers)
            assert refused.status_code == 401 and "token" in refused.json()["detail"]
        assert guarded.get("/labels").status_code == 401
        assert guarded.get("/openapi.json").status_code == 401
        ok = guarded.post(
            "/predict", json={"texts": ["a"]}, headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert ok.status_code == 200


def test_serving_beyond_loopback_without_a_token_warns() -> None:
    from src.deploy.limits import exposure_warning

    warning = exposure_warning("0.0.0.0", 8000, None)
    assert warning and warning.startswith("warning: ") and "\n" not in warning
    assert "without a token" in warning
    assert exposure_warning("0.0.0.0", 8000, TOKEN) is None
    assert exposure_warning("127.0.0.1", 8000, None) is None
    assert exposure_warning("localhost", 8000, None) is None


# -- a real server: slow, idle and too many clients ------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(export_dir: Path):
    """``python -m src.serve`` with short timeouts, 8 connections at most and a token."""
    port = free_port()
    env = {
        "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT),
        "TEXTLAB_SERVE_TOKEN": TOKEN,
    }  # fmt: skip
    process = subprocess.Popen(
        [
            sys.executable, "-m", "src.serve", f"export_dir={export_dir}", f"port={port}",
            "backend=onnx-fp32", "timeout_request=1", "timeout_keep_alive=1",
            "max_connections=8",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{url}/health", timeout=2).raise_for_status()
            break
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "server did not start in 90 s"
            time.sleep(0.3)
    yield {"port": port, "url": url, "pid": process.pid}
    process.terminate()
    process.wait(timeout=30)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a socket timeout fails the test)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.slow
def test_a_half_sent_request_head_is_closed(server: dict) -> None:
    with connect(server["port"]) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: app")
        assert read_all(sock) == b""  # closed after timeout_request, not held for ever
    with connect(server["port"]) as sock:  # nothing sent at all
        assert read_all(sock) == b""


@pytest.mark.slow
def test_a_slow_body_gets_408_in_json(server: dict) -> None:
    with connect(server["port"]) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"texts": ['
        )
        answer = read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert "not received within 1 s" in json.loads(body)["detail"]


@pytest.mark.slow
def test_idle_connections_are_capped_and_the_service_keeps_answering(server: dict) -> None:
    fds = Path(f"/proc/{server['pid']}/fd")
    before = len(os.listdir(fds))
    idle = [connect(server["port"]) for _ in range(60)]
    try:
        time.sleep(0.5)
        held = len(os.listdir(fds)) - before
        assert held <= 10, f"the server holds {held} more files for 60 idle connections"
    finally:
        for sock in idle:
            sock.close()
    health = httpx.get(f"{server['url']}/health", timeout=10)
    assert health.status_code == 200
    unauthorised = httpx.post(f"{server['url']}/predict", json={"texts": ["a"]}, timeout=10)
    assert unauthorised.status_code == 401
    answer = httpx.post(
        f"{server['url']}/predict", json={"texts": ["a"]}, timeout=10,
        headers={"authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert answer.status_code == 200
