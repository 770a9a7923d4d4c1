"""Crafted export folders (the manifest recomputed, as anyone can): every one is refused in
one line before anything is served, by the Python API and by each command; none gives a
traceback or a silently wrong answer. A request the model fails on fails alone, in JSON."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from src.deploy.exporter import export_run
from src.deploy.folder import write_manifest
from src.errors import TextlabError
from tests.conftest import run_module
from tests.faults.conftest import assert_one_line


@pytest.fixture(scope="module")
def export_dir(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_run(tiny_run, "onnx", tmp_path_factory.mktemp("hostile") / "onnx")


def _json(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


def _put(folder: Path, name: str, data: object) -> None:
    (folder / name).write_text(json.dumps(data))


def edit_json(name: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = _json(folder, name)
        change(data)
        _put(folder, name, data)

    return edit


def set_threshold(value: object) -> Callable[[Path], None]:
    return edit_json("thresholds.json", lambda d: d["thresholds"].__setitem__("toxic", value))


def _outside(folder: Path) -> None:
    shutil.copy(folder / "model.onnx", folder.parent / "outside.onnx")
    files = {"fp32": "../outside.onnx"}
    edit_json("export_config.json", lambda d: d.__setitem__("model_files", files))(folder)


def _symlink_outside(folder: Path) -> None:
    shutil.move(folder / "model.onnx", folder.parent / "elsewhere.onnx")
    (folder / "model.onnx").symlink_to(folder.parent / "elsewhere.onnx")


def _tokenizer_id_beyond_vocab(folder: Path) -> None:
    """The post-processor adds [CLS] as id 99999: not in the vocabulary, beyond the model's."""
    data = _json(folder, "tokenizer.json")
    data["post_processor"]["special_tokens"]["[CLS]"]["ids"] = [99999]
    _put(folder, "tokenizer.json", data)


def _truncate(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])

    return edit


#: case -> (how the folder is crafted, a fragment of the one-line refusal)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "threshold as a string": (set_threshold("0.5"), "thresholds.toxic"),
    "threshold NaN": (set_threshold(float("nan")), "thresholds.toxic"),
    "threshold -5": (set_threshold(-5), "thresholds.toxic"),
    "threshold of a label missing": (
        edit_json("thresholds.json", lambda d: d["thresholds"].pop("toxic")),
        "no threshold for labels ['toxic']",
    ),
    "label_names missing": (
        edit_json("export_config.json", lambda d: d.pop("label_names")),
        "label_names",
    ),
    "max_length missing": (
        edit_json("export_config.json", lambda d: d.pop("max_length")),
        "max_length",
    ),
    "max_length a string": (
        edit_json("export_config.json", lambda d: d.__setitem__("max_length", "32")),
        "max_length",
    ),
    "pad_token_id missing": (
        edit_json("export_config.json", lambda d: d.pop("pad_token_id")),
        "pad_token_id",
    ),
    "model_files missing": (
        edit_json("export_config.json", lambda d: d.pop("model_files")),
        "model_files",
    ),
    "label_names a string": (
        edit_json("export_config.json", lambda d: d.__setitem__("label_names", "toxic")),
        "label_names",
    ),
    "5 label names for a 6-label model": (
        edit_json("export_config.json", lambda d: d["label_names"].pop()),
        "(2, 5)",
    ),
    "duplicate label names": (
        edit_json(
            "export_config.json", lambda d: d["label_names"].__setitem__(1, d["label_names"][0])
        ),
        "unique",
    ),
    "unknown task": (
        edit_json("export_config.json", lambda d: d.update(task="x", task_name="x")),
        "unknown task",
    ),
    "export_config.json not JSON": (
        lambda folder: (folder / "export_config.json").write_text("{not json"),
        "cannot read",
    ),
    "model_files outside the folder": (_outside, "not a path inside the export folder"),
    "model_files absolute": (
        edit_json(
            "export_config.json", lambda d: d.__setitem__("model_files", {"fp32": "/etc/hosts"})
        ),
        "not a path inside the export folder",
    ),
    "model.onnx a link outside the folder": (_symlink_outside, "points outside the folder"),
    "truncated tokenizer.json": (_truncate("tokenizer.json"), "tokenizer.json"),
    "garbage model.onnx": (
        lambda folder: (folder / "model.onnx").write_bytes(b"garbage" * 100),
        "not an ONNX model",
    ),
    "empty model.onnx": (
        lambda folder: (folder / "model.onnx").write_bytes(b""),
        "not an ONNX model",
    ),
    "truncated model.onnx": (_truncate("model.onnx"), "not an ONNX model"),
    "tokenizer id beyond the vocabulary": (_tokenizer_id_beyond_vocab, "99999"),
    "pad_token_id beyond the vocabulary": (
        edit_json("export_config.json", lambda d: d.__setitem__("pad_token_id", 99999)),
        "99999",
    ),
}


def crafted(export_dir: Path, tmp_path: Path, edit: Callable[[Path], None]) -> Path:
    """A copy of the export, edited, with its manifest recomputed (anyone can)."""
    folder = Path(shutil.copytree(export_dir, tmp_path / "crafted"))
    edit(folder)
    manifest = _json(folder, "manifest.json")
    about = {k: v for k, v in manifest.items() if k != "files"}
    (folder / "manifest.json").unlink()
    write_manifest(folder, about)
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_a_crafted_folder_is_refused_in_one_line(
    export_dir: Path, tmp_path: Path, case: str
) -> None:
    from src.deploy.references import load_predictor

    edit, fragment = CASES[case]
    folder = crafted(export_dir, tmp_path, edit)
    with pytest.raises(TextlabError) as refused:
        load_predictor(folder, "onnx-fp32").predict(["you are a wonderful person", "x"])
    message = str(refused.value)
    assert "\n" not in message and fragment in message, message


def test_an_empty_manifest_verifies_nothing(export_dir: Path, tmp_path: Path) -> None:
    from src.deploy.references import load_predictor

    folder = Path(shutil.copytree(export_dir, tmp_path / "crafted"))
    _put(folder, "manifest.json", {"files": {}})
    with pytest.raises(TextlabError, match="manifest.json does not hold what textlab writes"):
        load_predictor(folder, "onnx-fp32")
    listed = _json(export_dir, "manifest.json")["files"]["tokenizer.json"]
    _put(folder, "manifest.json", {"files": {"tokenizer.json": listed}})
    with pytest.raises(TextlabError, match="model.onnx is not listed"):
        load_predictor(folder, "onnx-fp32")
    folder = Path(shutil.copytree(export_dir, tmp_path / "added"))
    (folder / "notes.txt").write_text("a file added after the export")
    with pytest.raises(TextlabError, match="notes.txt is not listed in manifest.json"):
        load_predictor(folder, "onnx-fp32")


def test_a_good_folder_still_loads(export_dir: Path) -> None:
    from src.deploy.folder import open_export_folder
    from src.deploy.references import load_predictor

    assert open_export_folder(export_dir).label_names
    assert len(load_predictor(export_dir, "onnx-fp32").predict(["hello"])) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ("src.onnx_predict", "text=hello"),
        ("src.predict", "text=hello"),
        ("src.serve", "port=0"),
    ],
)
def test_every_entry_point_refuses_a_crafted_folder_in_one_line(
    export_dir: Path, tmp_path: Path, command: tuple[str, str]
) -> None:
    folder = crafted(export_dir, tmp_path, set_threshold(float("nan")))
    module, extra = command
    if extra == "port=0":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            extra = f"port={sock.getsockname()[1]}"
    done = run_module(module, f"export_dir={folder}", extra)
    assert done.returncode == 2
    assert_one_line(done.stderr, "thresholds.json does not hold what textlab writes")


# -- a request the model fails on fails alone ---------------------------------------------------
@pytest.fixture(scope="module")
def client(export_dir: Path) -> TestClient:
    from src.deploy.service import create_app

    app = create_app(export_dir, batch_size=8, backend="onnx-fp32")
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_an_id_beyond_what_the_model_reads_gets_422_alone(client: TestClient) -> None:
    predictor = client.app.state.predictor
    limit = predictor.id_limit
    predictor.id_limit = 2000  # as a tokenizer whose ids go past the model's would give
    try:
        bad = client.post("/predict", json={"texts": ["wonderful"]})  # id 6919
        good = client.post("/predict", json={"texts": ["a"]})  # ids 101, 1037, 102
    finally:
        predictor.id_limit = limit
    assert bad.status_code == 422 and "outside the 2000 ids" in bad.json()["detail"]
    assert good.status_code == 200, good.text


def test_a_model_failure_is_a_json_500_and_the_service_goes_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    predictor = client.app.state.predictor
    logits = predictor.logits

    def failing(input_ids, attention_mask):
        if (input_ids == 6919).any():
            raise RuntimeError("boom")
        return logits(input_ids, attention_mask)

    monkeypatch.setattr(predictor, "logits", failing)
    bad = client.post("/predict", json={"texts": ["wonderful"]})
    assert bad.status_code == 500 and bad.headers["content-type"] == "application/json"
    assert "RuntimeError: boom" in bad.json()["detail"]
    assert client.post("/predict", json={"texts": ["a"]}).status_code == 200
