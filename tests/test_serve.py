"""The HTTP service over an exported tiny model: endpoints, thresholds, every bad request."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from src.deploy.export import export_run
from src.deploy.service import create_app
from src.errors import TextlabError
from tests.export_helpers import jigsaw_test_rows, learned_run, torch_reference

ROOT = Path(__file__).resolve().parent.parent
LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
MAX_TEXTS = 8
MAX_BODY = 4096


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, token_cache_dir: Path) -> dict:
    """ONNX (with int8) and HF exports of the learned run, and its tuned thresholds."""
    ckpt = learned_run(tmp_path_factory.getbasetemp(), token_cache_dir)
    root = tmp_path_factory.mktemp("exports")
    thresholds = json.loads((ckpt.parent.parent / "thresholds.json").read_text())["thresholds"]
    return {
        "ckpt": ckpt,
        "onnx": export_run(ckpt, "onnx", root / "onnx", quantize=True),
        "hf": export_run(ckpt, "hf", root / "hf"),
        "thresholds": np.float32([thresholds[name] for name in LABELS]),
    }


@pytest.fixture(scope="module")
def client(exported: dict) -> TestClient:
    app = create_app(exported["onnx"], max_texts=MAX_TEXTS, max_body_bytes=MAX_BODY, batch_size=3)
    with TestClient(app) as test_client:
        yield test_client


def predict(client: TestClient, texts: list[str]) -> list[dict]:
    response = client.post("/predict", json={"texts": texts})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_health_labels_and_openapi(client: TestClient, exported: dict) -> None:
    health = client.get("/health").json()
    assert health == {
        "status": "ok",
        "model": "onnx-fp32",
        "format": "onnx",
        "labels": 6,
        "max_length": 32,
    }
    labels = client.get("/labels").json()
    assert [item["name"] for item in labels["labels"]] == LABELS
    got = np.float32([item["threshold"] for item in labels["labels"]])
    np.testing.assert_array_equal(got, exported["thresholds"])
    assert labels["metric"] == "f1" and labels["thresholds_source"].startswith("tuned: ")
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/labels", "/health"} <= set(schema["paths"])
    assert "413" in schema["paths"]["/predict"]["post"]["responses"]


def test_predict_applies_the_tuned_thresholds(client: TestClient, exported: dict) -> None:
    """Probabilities equal the PyTorch model's; labels are exactly prob >= tuned threshold
    (the rule ``src.eval`` scores with). Texts are real Jigsaw test rows, sent in batches."""
    texts, _ = jigsaw_test_rows(exported["ckpt"], max_rows=40)
    predictions = [p for i in range(0, 40, MAX_TEXTS) for p in predict(client, texts[i : i + 8])]
    probs = np.float32([[p["probabilities"][name] for name in LABELS] for p in predictions])
    np.testing.assert_allclose(probs, torch_reference(exported["ckpt"], texts), atol=1e-4)
    chosen = probs >= exported["thresholds"]
    assert [p["labels"] for p in predictions] == [
        [name for name, hit in zip(LABELS, row, strict=True) if hit] for row in chosen
    ]
    assert chosen.any() and not chosen.all()  # the thresholds decide something here


def test_batching_and_truncation(client: TestClient) -> None:
    texts = ["thanks for the edit", "you are an idiot", "a" * 3, "hello there friend"] * 2
    together = predict(client, texts)  # batch_size=3: three model calls
    alone = [predict(client, [text])[0] for text in texts[:4]]
    for one, other in zip(together[:4], alone, strict=True):
        for name in LABELS:
            assert one["probabilities"][name] == pytest.approx(
                other["probabilities"][name], abs=1e-5
            )
    long_text = "this is a long comment " * 60  # ~300 tokens, max_length 32: truncated
    longer = predict(client, [long_text, long_text + " with a different ending"])
    assert longer[0]["probabilities"] == pytest.approx(longer[1]["probabilities"], abs=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ('{"texts": ["a", ', 400, "malformed JSON body"),
        ("not json at all", 400, "malformed JSON body"),
        ('{"texts": "one text"}', 422, "texts: Input should be a valid list"),
        ('{"texts": ["ok", 3]}', 422, "texts.1: Input should be a valid string"),
        ('{"texts": [null]}', 422, "texts.0: Input should be a valid string"),
        ('{"text": ["a"]}', 422, "texts: Field required"),
        ('["a", "b"]', 422, "Input should be a valid dictionary"),
        ('{"texts": []}', 422, "texts: List should have at least 1 item"),
        ('{"texts": ["fine", ""]}', 422, "texts [1] are empty or whitespace only"),
        ('{"texts": ["  \\n "]}', 422, "texts [0] are empty or whitespace only"),
        (json.dumps({"texts": ["x"] * (MAX_TEXTS + 1)}), 413, "over max_texts=8"),
        (json.dumps({"texts": ["x" * MAX_BODY]}), 413, "over the 4096-byte limit"),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    client: TestClient, body: str, status: int, message: str
) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and message in detail, detail
    assert len(predict(client, ["still serving"])) == 1  # the process is fine


def test_oversized_chunked_body_is_rejected(client: TestClient) -> None:
    """No Content-Length (chunked upload): the limit counts the bytes as they arrive."""

    def chunks():
        for _ in range(10):
            yield b'{"texts": ["' + b"x" * 1000

    response = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_int8_and_pytorch_backends(exported: dict) -> None:
    texts = ["thanks for fixing the article", "go away you stupid idiot"]
    results = {}
    for key, variant in [("onnx", "fp32"), ("onnx", "int8"), ("hf", "auto")]:
        with TestClient(create_app(exported[key], variant=variant)) as client:
            body = client.post("/predict", json={"texts": texts}).json()
        probs = [[p["probabilities"][name] for name in LABELS] for p in body["predictions"]]
        results[body["model"]] = np.array(probs)
    assert set(results) == {"onnx-fp32", "onnx-int8", "pytorch-eager"}
    np.testing.assert_allclose(results["pytorch-eager"], results["onnx-fp32"], atol=1e-4)
    np.testing.assert_allclose(results["onnx-int8"], results["onnx-fp32"], atol=0.05)
    with pytest.raises(TextlabError, match="int8 needs a format=onnx export"):
        create_app(exported["hf"], variant="int8")
    with pytest.raises(TextlabError, match="variant must be one of"):
        create_app(exported["onnx"], variant="fp16")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_command_line(exported: dict, tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}
    bad = subprocess.run(
        [sys.executable, "-m", "src.serve", f"export_dir={tmp_path}/none"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith(f"error: export folder {tmp_path}/none does not exist")

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "src.serve", f"export_dir={exported['onnx']}", f"port={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not start in 60 s"
                time.sleep(0.3)
        assert health.json()["model"] == "onnx-fp32"
        url = f"http://127.0.0.1:{port}/predict"
        response = httpx.post(url, content=b"{", headers={"content-type": "application/json"})
        assert response.status_code == 400
        response = httpx.post(url, content=b'{"texts": ["hi"]}', timeout=10)
        assert response.status_code == 415
        assert response.json()["detail"] == (
            "content-type (none) is not JSON; send application/json"
        )
        response = httpx.post(url, json={"texts": ["hi"]}, timeout=10)
        assert response.json()["predictions"][0]["probabilities"].keys() == set(LABELS)
    finally:
        server.terminate()
        server.wait(timeout=30)
