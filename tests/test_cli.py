"""The `taskroom` console script as an operator uses it: migrate, create a user, serve, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TASKROOM = Path(sys.executable).with_name("taskroom")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "JWT_SECRET": "cli-test-secret-cli-test-secret-0123456789",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TASKROOM), *args], env=env, capture_output=True, text=True, timeout=60)


def test_migrate_create_a_user_serve_and_stop_with_1001(env: dict[str, str]) -> None:
    assert run(env, "db", "upgrade").returncode == 0
    created = run(
        env, "user", "create", "--email", "Ops@Example.com", "--name", "Ops", "--password", "s3cret-pass"
    )
    assert created.returncode == 0, created.stderr
    user_id = created.stdout.strip()

    port = free_port()
    node = subprocess.Popen([str(TASKROOM), "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/api/v1/ws/health")
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the node did not come up"
                time.sleep(0.1)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "ops@example.com", "password": "s3cret-pass"}
        )
        assert login.status_code == 200
        assert login.json()["user"]["id"] == user_id

        with connect(f"ws://127.0.0.1:{port}/api/v1/ws", open_timeout=10) as ws:
            ws.recv(timeout=5)  # CONNECT
            node.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        # uvicorn re-raises the signal once shut down, the conventional exit of a SIGTERM'd process.
        assert node.wait(timeout=30) in (0, -signal.SIGTERM)
        assert node.stderr is not None
        assert "Traceback" not in node.stderr.read().decode()
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()


def test_user_create_refuses_a_taken_email_and_a_bad_one(env: dict[str, str]) -> None:
    assert run(env, "db", "upgrade").returncode == 0
    assert (
        run(
            env, "user", "create", "--email", "a@example.com", "--name", "A", "--password", "long-enough"
        ).returncode
        == 0
    )
    again = run(env, "user", "create", "--email", "a@example.com", "--name", "A", "--password", "long-enough")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    bad = run(env, "user", "create", "--email", "not-an-email", "--name", "A", "--password", "long-enough")
    assert bad.returncode == 1
    assert "email" in bad.stderr
