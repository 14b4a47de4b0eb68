"""The `taskroom` console script as an operator uses it: migrate, create a user, serve, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from taskroom.db.migrate import schema_status, upgrade
from tests.support.databases import create_postgres_database, drop_postgres_database, require_postgres
from tests.support.processes import free_port

TASKROOM = Path(sys.executable).with_name("taskroom")


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


def wait_healthy(base: str, node: subprocess.Popen[bytes], timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert node.poll() is None, "the node exited instead of serving"
        try:
            return httpx.get(f"{base}/api/v1/ws/health")
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the node did not come up"
            time.sleep(0.1)


def stop(node: subprocess.Popen[bytes]) -> None:
    if node.poll() is None:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()


def register_works(base: str) -> None:
    body = {"email": "first@example.com", "password": "s3cret-pass", "name": "First"}
    response = httpx.post(f"{base}/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("configured", ["unset", "sqlite-url"])
def test_serve_on_the_embedded_default_creates_and_migrates_its_database(
    env: dict[str, str], tmp_path: Path, configured: str
) -> None:
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    if configured == "unset":
        env = {name: value for name, value in env.items() if name != "DATABASE_URL"}
        database = workdir / "taskroom.db"
    else:
        database = tmp_path / "elsewhere.db"
        env = {**env, "DATABASE_URL": f"sqlite:///{database}"}
    port = free_port()
    node = subprocess.Popen(
        [str(TASKROOM), "serve", "--port", str(port)], env=env, cwd=workdir, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_healthy(base, node)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        register_works(base)
        assert database.exists()
    finally:
        stop(node)


def test_serve_on_sqlite_brings_an_older_schema_to_the_latest(env: dict[str, str]) -> None:
    url = env["DATABASE_URL"]
    upgrade(url, "0001")
    assert not schema_status(url).up_to_date
    port = free_port()
    node = subprocess.Popen([str(TASKROOM), "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(base, node).status_code == 200
    finally:
        stop(node)
    assert schema_status(url).up_to_date


@pytest.fixture
def postgres_env(env: dict[str, str]) -> Iterator[dict[str, str]]:
    require_postgres()
    url = create_postgres_database()
    try:
        yield {**env, "DATABASE_URL": url}
    finally:
        drop_postgres_database(url)


@pytest.mark.parametrize("schema", ["empty", "behind"])
def test_serve_on_postgres_with_a_schema_behind_refuses_to_start_and_names_the_upgrade(
    postgres_env: dict[str, str], schema: str
) -> None:
    if schema == "behind":
        upgrade(postgres_env["DATABASE_URL"], "0001")
    port = free_port()
    node = subprocess.Popen(
        [str(TASKROOM), "serve", "--port", str(port)],
        env=postgres_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        code = node.wait(timeout=60)
    finally:
        stop(node)
    assert node.stderr is not None
    message = node.stderr.read().decode()
    assert code != 0
    assert "taskroom db upgrade" in message
    assert "--migrate" in message
    assert "Traceback" not in message
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/ws/health")


def test_serve_on_postgres_starts_once_upgraded_or_with_migrate(postgres_env: dict[str, str]) -> None:
    upgrade(postgres_env["DATABASE_URL"], "0001")
    port = free_port()
    node = subprocess.Popen(
        [str(TASKROOM), "serve", "--migrate", "--port", str(port)], env=postgres_env, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(base, node).status_code == 200
        register_works(base)
    finally:
        stop(node)

    assert run(postgres_env, "db", "upgrade").returncode == 0
    port = free_port()
    node = subprocess.Popen(
        [str(TASKROOM), "serve", "--port", str(port)], env=postgres_env, stderr=subprocess.PIPE
    )
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}", node).status_code == 200
    finally:
        stop(node)
