"""No access token, refresh token or password of a session's life reaches the node's log."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import httpx

from taskroom.db.migrate import upgrade
from tests.support.processes import TASKROOM, free_port, node_environment


def test_tokens_and_passwords_of_sessions_never_reach_the_log(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'node.db'}"
    upgrade(database_url)
    port = free_port()
    log_path = tmp_path / "node.log"
    with log_path.open("wb") as log_file:
        # Both streams: uvicorn writes its access lines to stdout, everything else to stderr.
        process = subprocess.Popen(
            [str(TASKROOM), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=node_environment(database_url, log_level="debug"),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    password = f"pw-{uuid.uuid4().hex}"
    secrets: list[str] = [password]
    try:
        _wait_healthy(base)
        with httpx.Client(base_url=base, timeout=30) as http:
            email = f"log.{uuid.uuid4().hex[:8]}@example.test"
            body = http.post(
                "/auth/register", json={"email": email, "password": password, "name": "L"}
            ).json()
            secrets += [body["accessToken"], body["refreshToken"]]
            body = http.post("/auth/login", json={"email": email, "password": password}).json()
            secrets += [body["accessToken"], body["refreshToken"]]
            refreshed = http.post("/auth/refresh", json={"refreshToken": body["refreshToken"]}).json()
            secrets += [refreshed["accessToken"], refreshed["refreshToken"]]
            # Reuse of the spent token (logged as a warning) and a malformed body (422).
            assert http.post("/auth/refresh", json={"refreshToken": body["refreshToken"]}).status_code == 401
            assert (
                http.post("/auth/refresh", json={"refreshToken": body["refreshToken"], "x": 1}).status_code
                == 422
            )
            auth = {"Authorization": f"Bearer {refreshed['accessToken']}"}
            http.get(f"/auth/sessions?token={refreshed['refreshToken']}", headers=auth)
            assert (
                http.post("/auth/logout", json={"refreshToken": refreshed["refreshToken"]}).status_code == 204
            )
    finally:
        process.terminate()
        process.wait(30)
    log = log_path.read_text(errors="replace")
    assert "Logging error" not in log
    assert "/auth/refresh" in log  # the requests were logged, without their secrets
    for secret in secrets:
        assert secret not in log


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ws/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the node did not become healthy")
