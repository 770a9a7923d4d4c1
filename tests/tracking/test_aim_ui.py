"""The Aim UI starts on loopback and stops with its uvicorn child; the compose recipe is valid."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from src.errors import TextlabError
from src.tracking.repo import ensure_aim_repo
from src.tracking.ui import live_group_members, start_aim_ui, stop_aim_ui, wait_until_up
from tests.conftest import ROOT

AIM_DIR = ROOT / "aim"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_alive(pgid: int) -> bool:
    return bool(live_group_members(pgid))


@pytest.mark.slow  # aim up takes 10-45 s to answer on 2 busy cores
def test_ui_serves_on_loopback_and_stops_with_its_children(tmp_path: Path) -> None:
    ensure_aim_repo(tmp_path)
    port = free_port()
    process = start_aim_ui(tmp_path, port=port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", timeout=180)
        assert len(live_group_members(process.pid)) >= 2  # aim up and its uvicorn child
    finally:
        stop_aim_ui(process)
    assert not group_alive(process.pid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_missing_repo_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TextlabError, match="no Aim repo"):
        start_aim_ui(tmp_path)


def test_compose_file_shares_one_repo_between_ui_and_tracking_server() -> None:
    compose = yaml.safe_load((AIM_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"aim-ui", "aim-server"}
    ui, server = services["aim-ui"], services["aim-server"]
    for service in (ui, server):
        assert service["build"]["context"] == "." and service["build"]["network"] == "host"
        assert service["volumes"] == ["${AIM_REPO_ROOT:-..}:/repo"]
    # the ports default to 43800/53800; aim/check.sh moves them when those are taken
    assert ui["ports"] == ["${AIM_BIND:-127.0.0.1}:${AIM_UI_PORT:-43800}:${AIM_UI_PORT:-43800}"]
    assert server["ports"] == [
        "${AIM_BIND:-127.0.0.1}:${AIM_SERVER_PORT:-53800}:${AIM_SERVER_PORT:-53800}"
    ]
    assert ui["command"][:2] == ["aim", "up"] and server["command"][:2] == ["aim", "server"]
    dockerfile = (AIM_DIR / "Dockerfile").read_text()
    assert "aim==3.29.1" in dockerfile and "ARG BASE_IMAGE=python:3.11-slim" in dockerfile
    assert "aim_repo.tar.gz" not in dockerfile
