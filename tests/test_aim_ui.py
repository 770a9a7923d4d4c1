"""The Aim UI starts on loopback and stops with its uvicorn child; the compose recipe is valid."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from src.aim_ui import live_group_members, start_aim_ui, stop_aim_ui, wait_until_up
from src.utils.aim_repo import ensure_aim_repo
from src.utils.errors import TextlabError

AIM_DIR = Path(__file__).resolve().parent.parent / "aim"


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


def test_compose_file_serves_the_tarred_repo_and_a_tracking_server() -> None:
    compose = yaml.safe_load((AIM_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"aim-ui", "aim-server"}
    ui, server = services["aim-ui"], services["aim-server"]
    assert ui["build"]["context"] == "."
    assert "43800:43800" in ui["ports"] and "53800:53800" in server["ports"]
    assert server["command"][:2] == ["aim", "server"]
    dockerfile = (AIM_DIR / "Dockerfile").read_text()
    assert "aim_repo.tar.gz" in dockerfile and "aim==3.29.1" in dockerfile
    for service in services.values():  # every volume a service mounts is declared
        for volume in service.get("volumes", []):
            name = volume.split(":")[0]
            assert name.startswith((".", "/")) or name in compose["volumes"]
