"""The HTTP service over exported tiny models: endpoints, thresholds, backends, merged batches,
every bad request, the command line; and the one prediction schema: ``src.predict``,
``src.onnx_predict`` and ``src.serve`` give the same JSON for the same text and checkpoint, for
every task."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from src.deploy.exporter import export_run
from src.deploy.references import load_predictor
from src.deploy.service import Batcher, create_app
from src.errors import TextlabError
from src.tasks.formats import PREDICTION
from tests.conftest import ROOT
from tests.deploy.export_helpers import (
    jigsaw_test_rows,
    learned_run,
    torch_reference,
    untrained_run,
)

LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
MAX_TEXTS = 8
MAX_BODY = 4096
ENV = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, token_cache_dir: Path) -> dict:
    """A copy of the learned run with its ONNX (with int8) and HF exports in ``export/``."""
    ckpt = learned_run(tmp_path_factory.getbasetemp(), token_cache_dir)
    run = Path(shutil.copytree(ckpt.parent.parent, tmp_path_factory.mktemp("serve") / "run"))
    thresholds = json.loads((run / "thresholds.json").read_text())["thresholds"]
    return {
        "run": run,
        "ckpt": run / "checkpoints" / ckpt.name,
        "onnx": export_run(run, "onnx", quantize=True),
        "hf": export_run(run, "hf"),
        "thresholds": np.float32([thresholds[name] for name in LABELS]),
    }


@pytest.fixture(scope="module")
def client(exported: dict) -> TestClient:
    app = create_app(
        exported["onnx"], max_texts=MAX_TEXTS, max_body_bytes=MAX_BODY, batch_size=3,
        backend="onnx-fp32",
    )  # fmt: skip
    with TestClient(app) as test_client:
        yield test_client


def predict(client: TestClient, texts: list[str]) -> list[dict]:
    response = client.post("/predict", json={"texts": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    for prediction in body["predictions"]:
        PREDICTION.validate_python(prediction)
    return body["predictions"]


def test_health_labels_and_openapi(client: TestClient, exported: dict) -> None:
    health = client.get("/health").json()
    assert health == {
        "status": "ok",
        "backend": "onnx-fp32",
        "backend_choice": "asked for",
        "task": "multilabel",
        "backbone": "tiny_bert",
        "labels": 6,
        "max_length": 32,
        "context_sentences": 0,
    }
    head = client.head("/health")
    assert head.status_code == 200 and head.content == b""
    labels = client.get("/labels").json()
    assert labels["task"] == "multilabel" and labels["threshold_source"] == "tuned"
    assert [item["name"] for item in labels["labels"]] == LABELS
    got = np.float32([item["threshold"] for item in labels["labels"]])
    np.testing.assert_array_equal(got, exported["thresholds"])
    assert labels["metric"] == "f1"
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/labels", "/health"} <= set(schema["paths"])
    assert "413" in schema["paths"]["/predict"]["post"]["responses"]
    assert {"MultilabelPrediction", "MulticlassPrediction", "TokenPrediction"} <= set(
        schema["components"]["schemas"]
    )


def test_predict_applies_the_tuned_thresholds(client: TestClient, exported: dict) -> None:
    """Probabilities equal the PyTorch model's; labels are exactly prob >= tuned threshold
    (the rule ``src.eval`` scores with). Texts are real Jigsaw test rows, sent in batches."""
    texts, _ = jigsaw_test_rows(exported["ckpt"], max_rows=40)
    predictions = [p for i in range(0, 40, MAX_TEXTS) for p in predict(client, texts[i : i + 8])]
    assert [p["text"] for p in predictions] == texts
    probs = np.float32([[p["probabilities"][name] for name in LABELS] for p in predictions])
    np.testing.assert_allclose(probs, torch_reference(exported["ckpt"], texts), atol=1e-4)
    chosen = probs >= exported["thresholds"]
    assert [p["labels"] for p in predictions] == [
        [name for name, hit in zip(LABELS, row, strict=True) if hit] for row in chosen
    ]
    assert chosen.any() and not chosen.all()  # the thresholds decide something here
    assert predictions[0]["thresholds"]["source"] == "tuned"


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
        ('{"texts": ["\\ud800"]}', 422, "texts [0] are not valid Unicode"),
        ('{"texts": ["ok", "a\\udfffb"]}', 422, "texts [1] are not valid Unicode"),
        ('{"texts": ["ok"], "\\ud800": 1}', 422, "invalid request"),
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
    assert isinstance(detail, str) and "\n" not in detail and message in detail, detail
    assert len(predict(client, ["still serving"])) == 1  # the process is fine


def test_wrong_method_and_path_are_one_line(client: TestClient) -> None:
    assert client.get("/predict").json() == {"detail": "Method Not Allowed"}
    assert client.get("/nothing").status_code == 404


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


def test_every_backend_and_auto(exported: dict, tmp_path: Path) -> None:
    """A run folder offers all four backends (its export/onnx and export/hf); they agree."""
    texts = ["thanks for fixing the article", "go away you stupid idiot"]
    results = {}
    for backend in ("onnx-fp32", "onnx-int8", "pytorch-fp32", "pytorch-bf16", "auto"):
        with TestClient(create_app(exported["run"], backend=backend)) as client:
            body = client.post("/predict", json={"texts": texts}).json()
            health = client.get("/health").json()
        assert body["backend"] == health["backend"] and body["task"] == "multilabel"
        probs = [[p["probabilities"][name] for name in LABELS] for p in body["predictions"]]
        results[backend if backend != "auto" else "auto"] = np.array(probs)
        if backend == "auto":
            auto = health
    np.testing.assert_allclose(results["pytorch-fp32"], results["onnx-fp32"], atol=1e-4)
    np.testing.assert_allclose(results["onnx-int8"], results["onnx-fp32"], atol=0.05)
    np.testing.assert_allclose(results["pytorch-bf16"], results["pytorch-fp32"], atol=0.02)
    assert auto["backend"] in ("onnx-int8", "pytorch-bf16", "pytorch-fp32", "onnx-fp32")
    assert auto["backend_choice"].startswith(("fastest measured here", "rule: "))
    with pytest.raises(TextlabError, match="backend=pytorch-bf16 is not available"):
        create_app(exported["onnx"], backend="pytorch-bf16")
    with pytest.raises(TextlabError, match="backend must be one of"):
        create_app(exported["onnx"], backend="fp16")


def test_auto_follows_this_machines_measurements(exported: dict, tmp_path: Path) -> None:
    from src.deploy.backends import choose_backend
    from src.deploy.references import load_predictor
    from src.runs.provenance import machine

    record = tmp_path / "measured.json"
    speeds = {"pytorch-fp32": 60.0, "pytorch-bf16": 50.0, "onnx-fp32": 55.0, "onnx-int8": 80.0}
    record.write_text(json.dumps({"machine": machine(), "served_texts_per_s": speeds}))
    assert choose_backend(list(speeds), record)[0] == "onnx-int8"
    assert choose_backend(["pytorch-fp32", "pytorch-bf16"], record)[0] == "pytorch-fp32"
    predictor = load_predictor(exported["run"], measured_file=record)
    assert predictor.name == "onnx-int8" and "texts/s" in predictor.choice
    outside = {"onnx-int8": 0.031}  # measured beyond PROB_TOLERANCE from fp32: never chosen
    record.write_text(
        json.dumps(
            {"machine": machine(), "served_texts_per_s": speeds, "outside_tolerance": outside}
        )
    )
    assert choose_backend(list(speeds), record)[0] == "pytorch-fp32"
    assert choose_backend(["onnx-int8", "onnx-fp32"], record)[0] == "onnx-fp32"
    other = {"machine": {**machine(), "cpu": "another"}, "served_texts_per_s": speeds}
    record.write_text(json.dumps(other))  # another machine's figures are not used
    assert choose_backend(list(speeds), record)[1].startswith("rule: ")


def test_concurrent_requests_share_model_calls() -> None:
    """While the model runs, queued requests wait; the next call takes them all."""
    from src.tasks.output import ModelInput

    class Slow:
        def __init__(self) -> None:
            self.calls: list[list[str]] = []
            self.release = threading.Event()

        def encode(self, texts: list[str], contexts=None) -> list[ModelInput]:
            return [ModelInput([1, 2], None, text) for text in texts]  # type: ignore[arg-type]

        def probabilities_of(self, inputs: list[ModelInput]) -> list:
            self.calls.append([given.words for given in inputs])
            self.release.wait(10)
            return [given.words for given in inputs]

        def finish(self, texts, inputs, probs) -> list[dict]:
            return [{"text": p} for p in probs]

    model = Slow()
    batcher = Batcher(model, max_texts=32)
    first = batcher.submit(["a"])
    deadline = time.monotonic() + 30
    while not model.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    rest = [batcher.submit([f"t{i}", f"u{i}"]) for i in range(5)]
    model.release.set()
    assert first.result(10) == [{"text": "a"}]
    assert [f.result(10) for f in rest] == [
        [{"text": f"t{i}"}, {"text": f"u{i}"}] for i in range(5)
    ]
    assert [len(call) for call in model.calls] == [1, 10]  # five requests, one model call
    batcher.close()


def test_model_calls_are_capped_in_padded_tokens() -> None:
    """Sorted by length, a call holds at most batch_size rows and max_batch_tokens padded
    tokens, so a long text does not pad short ones; every text runs exactly once."""
    from src.deploy.predictors import Predictor
    from src.tasks.formats import output_format
    from src.tasks.output import LabelSet

    class Lengths(Predictor):
        def logits(self, input_ids, attention_mask):
            raise AssertionError("not called")

    predictor = Lengths(output_format("multilabel"), LabelSet(("a",)), None, batch_size=3)
    lengths = [128, 10, 12, 11, 127, 9, 300]
    calls = predictor.batches(lengths)
    assert calls == [[5, 1, 3], [2, 4], [0], [6]]  # 3 rows, 256 padded tokens at most
    predictor.max_batch_tokens = 10_000
    assert predictor.batches(lengths) == [[5, 1, 3], [2, 4, 0], [6]]


def test_onnx_threads_do_not_spin(exported: dict) -> None:
    from src.deploy.references import load_predictor

    predictor = load_predictor(exported["onnx"], "onnx-fp32")
    options = predictor.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


# -- the same JSON from every tool ----------------------------------------------------------------
TEXTS = [
    "you are a wonderful person",
    'I don\'t like you, "idiot"',
    "Ünïcödé — emoji 🙂 and\ttabs",
    "Empire State Building =  ESB . Pretty bad storm here last evening .",
    "this is a long comment " * 30,
]


@pytest.fixture(scope="module")
def task_runs(
    tmp_path_factory: pytest.TempPathFactory,
    token_cache_dir: Path,
    emotion_dir: Path,
    vua_dir: Path,
) -> dict[str, Path]:
    """An untrained run of each task with its ONNX and HF exports (and a tagger trained to
    read the sentence before each one, ``token_context``)."""
    runs = {}
    for task, overrides in {
        "multilabel": [],
        "multiclass": ["data=emotion", f"data.data_dir={emotion_dir}"],
        "token": ["data=wnut17", "model=token_tagger"],
        "token_context": [
            "data=vua_metaphor", f"data.data_dir={vua_dir}", "data.context_sentences=1",
            "model=token_tagger",
        ],
    }.items():  # fmt: skip
        run = tmp_path_factory.mktemp(task) / "run"
        untrained_run(run, token_cache_dir, *overrides)
        export_run(run, "onnx")
        export_run(run, "hf")
        runs[task] = run
    return runs


def assert_same_json(got, want, where: str = "") -> None:
    """Equal JSON, numbers within 1e-4 (fp32 on two runtimes)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-4), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for key in want:
            assert_same_json(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            assert_same_json(a, b, f"{where}[{i}]")
    else:
        assert got == want, where


def json_lines(*args: str, stdin: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=ENV, input=stdin, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("task", ["multilabel", "multiclass", "token"])
def test_the_three_tools_give_the_same_json(task_runs: dict[str, Path], task: str) -> None:
    run = task_runs[task]
    stdin = "\n".join(TEXTS) + "\n"
    from_checkpoint = json_lines(
        "src.predict", f"ckpt_path={run}", "backend=pytorch-fp32", stdin=stdin
    )
    from_onnx = json_lines(
        "src.onnx_predict", f"export_dir={run}", "backend=onnx-fp32", stdin=stdin
    )
    with TestClient(create_app(run, backend="pytorch-fp32")) as client:
        served = client.post("/predict", json={"texts": TEXTS}).json()
    assert served["task"] == task and served["backend"] == "pytorch-fp32"
    assert [p["text"] for p in from_checkpoint] == TEXTS
    for prediction in from_checkpoint:
        PREDICTION.validate_python(prediction)
        assert prediction["task"] == task
    assert_same_json(from_onnx, from_checkpoint, "onnx_predict")
    assert_same_json(served["predictions"], from_checkpoint, "serve")
    if task == "token":
        spans = [span for p in from_checkpoint for span in p["spans"]]
        assert spans and all(
            p["text"][s["start"] : s["end"]] == s["text"]
            for p in from_checkpoint
            for s in p["spans"]
        )


def test_a_tagger_reads_each_texts_context(task_runs: dict[str, Path]) -> None:
    """``context`` (the sentences before a text, for taggers trained with
    data.context_sentences) is read before the text and never tagged; ONNX and PyTorch read it
    alike, an empty one changes nothing, and a bad one is refused."""
    run = task_runs["token_context"]
    texts = ["Empire State Building is tall", "He went to Paris"]
    contexts = ["We flew to New York and saw the Hudson .", ""]
    onnx = load_predictor(run, "onnx-fp32")
    torch_fp32 = load_predictor(run, "pytorch-fp32")
    alone = onnx.probabilities_of(onnx.output.inputs(onnx.encoder, texts))
    read = onnx.probabilities_of(onnx.output.inputs(onnx.encoder, texts, contexts))
    assert len(read[0]) > len(alone[0]) and not np.allclose(read[0][-1], alone[0][-1])
    np.testing.assert_allclose(read[1], alone[1], atol=1e-6)  # "" is no context
    with TestClient(create_app(run, backend="pytorch-fp32")) as client:
        assert client.get("/health").json()["context_sentences"] == 1
        served = client.post("/predict", json={"texts": texts, "context": contexts}).json()
        assert_same_json(served["predictions"], torch_fp32.predict(texts, contexts))
        assert_same_json(served["predictions"], onnx.predict(texts, contexts), "onnx")
        for prediction, text in zip(served["predictions"], texts, strict=True):
            assert all(text[s["start"] : s["end"]] == s["text"] for s in prediction["spans"])
        bad = client.post("/predict", json={"texts": texts, "context": ["x"]})
        assert bad.status_code == 422 and "1 contexts for 2 texts" in bad.json()["detail"]
        # the command lines read a document's lines: context_lines=1, the line before each
        as_document = client.post("/predict", json={"texts": texts, "context": ["", texts[0]]})
    stdin = "\n".join(texts) + "\n"
    for tool, where, backend in (
        ("src.predict", "ckpt_path", "pytorch-fp32"),
        ("src.onnx_predict", "export_dir", "onnx-fp32"),
    ):
        lines = json_lines(
            tool, f"{where}={run}", f"backend={backend}", "context_lines=1", stdin=stdin
        )
        assert_same_json(lines, as_document.json()["predictions"], tool)
    with TestClient(create_app(task_runs["multilabel"], backend="pytorch-fp32")) as client:
        bad = client.post("/predict", json={"texts": ["a"], "context": ["b"]})
        assert bad.status_code == 422 and "token taggers only" in bad.json()["detail"]
    with pytest.raises(TextlabError, match="context is read by token taggers only"):
        load_predictor(task_runs["multilabel"], "onnx-fp32").predict(["a"], ["b"])


# -- the command line -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_once(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.serve", *args],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_serve_command_line(exported: dict, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        for args, fragment in [
            ((f"export_dir={tmp_path}/none",), f"export folder {tmp_path}/none does not exist"),
            ((), "export_dir is required"),
            ((f"export_dir={exported['run']}", "port=abc"), "port must be an integer, got 'abc'"),
            ((f"export_dir={exported['run']}", "port=70000"), "port must be an integer in"),
            ((f"export_dir={exported['run']}", "backend=gpu"), "backend must be one of"),
            ((f"export_dir={exported['run']}", "batch_size=0"), "batch_size must be an integer"),
            (
                (f"export_dir={exported['run']}", f"port={busy}"),
                f"cannot listen on 127.0.0.1:{busy}",
            ),
            ((f"export_dir={exported['run']}", "host=no-such-host.invalid"), "host=no-such-host"),
        ]:
            done = serve_once(*args)
            assert done.returncode == 2, (args, done.stderr[-2000:])
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
            assert fragment in lines[0], (fragment, lines[0])

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "src.serve", f"export_dir={exported['run']}", f"port={port}"],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not start in 90 s"
                time.sleep(0.3)
        assert health.json()["backend"] in (
            "onnx-int8",
            "pytorch-bf16",
            "pytorch-fp32",
            "onnx-fp32",
        )
        assert httpx.head(f"http://127.0.0.1:{port}/health").status_code == 200
        url = f"http://127.0.0.1:{port}/predict"
        response = httpx.post(url, content=b"{", headers={"content-type": "application/json"})
        assert response.status_code == 400
        response = httpx.post(url, content=b'{"texts": ["hi"]}', timeout=10)
        assert response.status_code == 415
        assert response.json()["detail"] == (
            "content-type (none) is not JSON; send application/json"
        )
        lone = b'{"texts": ["\\ud800"]}'  # the curl of the bug report
        response = httpx.post(url, content=lone, headers={"content-type": "application/json"})
        assert response.status_code == 422 and "not valid Unicode" in response.json()["detail"]
        response = httpx.post(url, json={"texts": ["hi"]}, timeout=10)
        assert response.json()["predictions"][0]["probabilities"].keys() == set(LABELS)
    finally:
        server.terminate()
        server.wait(timeout=30)
