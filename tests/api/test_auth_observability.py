"""Operators see authentication: log lines for sockets and refusals, a refusal counter, no secret.

A real `taskroom serve` process at LOG_LEVEL info, its stdout and stderr captured
(`NodeProcess`): the log names each socket's path, user, close code and reason, and each refused
credential's reason; `/metrics` counts the refusals by entry point and reason; and not one
password, access token, refresh token (`trr_`) or API key (`trk_`) text reaches the log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.processes import NodeProcess
from tests.support.waiting import eventually
from tests.support.ws import WsClient
from tests.support.ydoc import doc_url


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    process = NodeProcess(f"sqlite:///{tmp_path / 'node.db'}", log_level="info")
    try:
        yield process
    finally:
        process.stop()


def test_auth_is_logged_and_counted_without_any_secret(node: NodeProcess) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    email = f"obs.{uuid.uuid4().hex[:8]}@example.test"
    secrets = [password]
    with httpx.Client(base_url=node.api, timeout=30) as http:
        registered = http.post("/auth/register", json={"email": email, "password": password, "name": "O"})
        assert registered.status_code == 201, registered.text
        owner = registered.json()
        user_id = owner["user"]["id"]
        logged_in = http.post("/auth/login", json={"email": email, "password": password}).json()
        refreshed = http.post("/auth/refresh", json={"refreshToken": logged_in["refreshToken"]}).json()
        secrets += [owner["accessToken"], owner["refreshToken"], logged_in["accessToken"]]
        secrets += [logged_in["refreshToken"], refreshed["accessToken"], refreshed["refreshToken"]]
        auth = {"Authorization": f"Bearer {refreshed['accessToken']}"}
        workspace = http.post("/workspaces", json={"name": "W"}, headers=auth).json()
        task = http.post(f"/workspaces/{workspace['id']}/tasks", json={"title": "T"}, headers=auth).json()

        # Refused: a forged token on REST, an API-key-shaped one on the socket, a bad one on the document.
        forged = refreshed["accessToken"][:-4] + "AAAA"
        api_key = f"trk_{uuid.uuid4().hex}"
        secrets += [forged, api_key]
        assert http.get("/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        with WsClient(node.ws_url) as ws:
            ws.recv_type("CONNECT")
            ws.send("AUTHENTICATE", {"token": api_key}, id="auth")
            assert ws.wait_closed() == 4401
        with pytest.raises(InvalidStatus):
            connect(doc_url(node.ws_url, task["id"], forged), open_timeout=10).close()

        # Admitted on both sockets, then the session ends: both close 4401, on the server's side.
        with (
            WsClient(node.ws_url) as ws,
            connect(doc_url(node.ws_url, task["id"], logged_in["accessToken"]), open_timeout=10) as doc,
        ):
            assert ws.authenticate(logged_in["accessToken"])["success"] is True
            doc.recv(timeout=5)
            assert (
                http.post("/auth/logout", json={"refreshToken": refreshed["refreshToken"]}).status_code == 204
            )
            assert ws.wait_closed() == 4401

        prometheus = httpx.get(f"{node.base_url}/metrics", timeout=30).text
    for endpoint, reason in (("rest", "invalid"), ("ws", "invalid"), ("doc", "invalid")):
        assert f'taskroom_auth_refused_total{{endpoint="{endpoint}",reason="{reason}"}} 1.0' in prometheus

    doc_path = f"/api/v1/tasks/{task['id']}/doc"
    log = eventually(node.log_text, lambda text: f"socket closed path={doc_path}" in text)
    lines = log.splitlines()
    assert any("credential refused endpoint=ws path=/api/v1/ws reason=invalid" in line for line in lines), log
    assert any("credential refused endpoint=doc" in line and "reason=invalid" in line for line in lines)
    for path in ("/api/v1/ws", doc_path):
        closed = [line for line in lines if f"socket closed path={path} user={user_id} code=4401" in line]
        assert closed and 'reason="session ended" by=server' in closed[0], log
    assert "Logging error" not in log
    for secret in secrets:
        assert secret not in log
    assert not re.search(r"trr_[A-Za-z0-9_-]{8}", log)
    assert not re.search(r"trk_[A-Za-z0-9_-]{8}", log)
