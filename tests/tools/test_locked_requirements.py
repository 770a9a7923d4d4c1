"""tools/locked_requirements.py: hashed pins for the torch group and the torch wheel check."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

TOOL = ROOT / "tools" / "locked_requirements.py"
HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")

spec = importlib.util.spec_from_file_location("locked_requirements", TOOL)
lockreq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lockreq)


def lock_entries() -> dict[str, tuple[str, set[str]]]:
    lock = tomllib.loads((ROOT / "poetry.lock").read_text())["package"]
    return {p["name"]: (p["version"], {f["hash"] for f in p["files"]}) for p in lock}


def torch_group_names() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(project["tool"]["poetry"]["group"]["torch"]["dependencies"])


def parse(lines: list[str]) -> dict[str, tuple[str, list[str]]]:
    pins = {}
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        name, _, version = line.split()[0].partition("==")
        assert name not in pins, f"{name} pinned twice"
        pins[name] = (version, HASH.findall(line))
    return pins


def test_hashed_torch_group_is_exactly_the_group_at_locked_versions() -> None:
    out = subprocess.run(
        [sys.executable, str(TOOL), "torch-group", "--hashes"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pins = parse(out.splitlines())
    locked = lock_entries()
    assert sorted(pins) == sorted(torch_group_names())
    for name, (version, hashes) in pins.items():
        assert version == locked[name][0]
        assert hashes, f"{name} has no --hash=sha256"
        assert set(hashes) <= locked[name][1]


def write_report(path: Path, pins: dict[str, str]) -> Path:
    install = [{"metadata": {"name": n, "version": v}} for n, v in pins.items()]
    path.write_text(json.dumps({"version": "1", "install": install}))
    return path


def test_report_adds_resolved_dependencies_hashed(tmp_path: Path) -> None:
    locked = lock_entries()
    report = write_report(
        tmp_path / "report.json",
        {
            "lightning": locked["lightning"][0],
            "lightning_utilities": locked["lightning-utilities"][0],
            "PyYAML": locked["pyyaml"][0],
        },
    )
    lines = lockreq.hashed_requirements(
        lockreq.load_lock(), torch_group_names(), lockreq.report_pins(report)
    )
    pins = parse(lines)
    assert sorted(pins) == sorted([*torch_group_names(), "lightning-utilities", "pyyaml"])
    for name, (version, hashes) in pins.items():
        assert version == locked[name][0]
        assert hashes and set(hashes) <= locked[name][1]


def test_report_with_an_unlocked_version_is_refused(tmp_path: Path) -> None:
    report = write_report(tmp_path / "report.json", {"lightning-utilities": "0.0.1"})
    with pytest.raises(SystemExit, match="poetry.lock holds"):
        lockreq.hashed_requirements(
            lockreq.load_lock(), torch_group_names(), lockreq.report_pins(report)
        )


def fake_wheel(tmp_path: Path, version: str) -> tuple[Path, str]:
    wheel = tmp_path / f"torch-{version}-cp311-cp311-manylinux_2_28_x86_64.whl"
    wheel.write_bytes(b"not really a wheel")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_check_wheel(tmp_path: Path) -> None:
    lock = lockreq.load_lock()
    version = lock_entries()["torch"][0]
    cpu, cpu_sha = fake_wheel(tmp_path, f"{version}+cpu")
    # a local build the lock cannot know: version only, said loudly; pinned when asked
    assert "checked by version only" in lockreq.check_wheel(lock, cpu, [])
    assert "matches TORCH_SHA256" in lockreq.check_wheel(lock, cpu, [cpu_sha])
    with pytest.raises(SystemExit, match="matches neither"):
        lockreq.check_wheel(lock, cpu, ["0" * 64])
    # a wheel claiming to be PyPI's release must match the lock
    pypi, pypi_sha = fake_wheel(tmp_path, version)
    with pytest.raises(SystemExit, match="matches neither"):
        lockreq.check_wheel(lock, pypi, [])
    for pkg in lock:
        if pkg["name"] == "torch":
            pkg["files"].append({"file": pypi.name, "hash": f"sha256:{pypi_sha}"})
    assert "matches poetry.lock" in lockreq.check_wheel(lock, pypi, [])
    other, _ = fake_wheel(tmp_path, "0.0.1+cpu")
    with pytest.raises(SystemExit, match="poetry.lock holds torch=="):
        lockreq.check_wheel(lock, other, [])


def test_bench_group_is_pinned_from_the_lock_and_missing_pins_say_make_lock() -> None:
    assert lockreq.poetry_group("bench") == ["accelerate"]
    digest = "sha256:" + "ab" * 32
    lock = [{"name": "accelerate", "version": "1.16.0", "files": [{"hash": digest}]}]
    lines = lockreq.hashed_requirements(lock, ["accelerate"], None, "bench")
    assert lines == [
        "# bench group, pinned and hashed from poetry.lock",
        f"accelerate==1.16.0 --hash={digest}",
    ]
    with pytest.raises(SystemExit, match="accelerate .*not in poetry.lock; run `make lock`"):
        lockreq.hashed_requirements([], ["accelerate"], None, "bench")
