"""Ending a session closes its sockets, both endpoints, on every node (PROTOCOL §5.1).

Each test holds sockets of two sessions of one user: the ended session's close 4401 within the
2 seconds the protocol allows; the other session's stay open and keep answering.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.realtime.test_cluster import cluster  # the three-node fixture (PostgreSQL + Redis)
from tests.support.databases import sqlite_url
from tests.support.servers import RunningServer, start_server
from tests.support.ws import WsClient
from tests.support.ydoc import doc_url

__all__ = ["cluster"]

PASSWORD = "correct horse battery"
WITHIN = 2.0  # PROTOCOL §5.1: closed within 2 seconds, on every node


class Scene:
    """A user with two sessions (A: a login, B: the registration), a workspace and a task."""

    def __init__(self, http: httpx.Client) -> None:
        self.email = f"rev.{uuid.uuid4().hex[:10]}@example.test"
        registered = http.post(
            "/auth/register", json={"email": self.email, "password": PASSWORD, "name": "R"}
        )
        assert registered.status_code == 201, registered.text
        self.b = registered.json()
        logged_in = http.post("/auth/login", json={"email": self.email, "password": PASSWORD})
        assert logged_in.status_code == 200, logged_in.text
        self.a = logged_in.json()
        workspace = http.post("/workspaces", json={"name": "W"}, headers=bearer(self.b)).json()
        task = http.post(f"/workspaces/{workspace['id']}/tasks", json={"title": "T"}, headers=bearer(self.b))
        assert task.status_code == 201, task.text
        self.task_id = task.json()["id"]


class Sockets:
    """One `/api/v1/ws` socket and one document socket of a token on a node."""

    def __init__(self, stack: ExitStack, node: RunningServer, token: str, task_id: str) -> None:
        self.ws = stack.enter_context(WsClient(node.ws_url))
        assert self.ws.authenticate(token)["success"] is True
        self.doc: ClientConnection = stack.enter_context(
            connect(doc_url(node.ws_url, task_id, token), open_timeout=10, max_size=None)
        )
        self.doc.recv(timeout=5)  # the welcome: the document connection is attached

    def closed_codes(self, deadline: float) -> tuple[int | None, int | None]:
        """Both sockets' close codes, read until `deadline` (None: still open then)."""
        ws_code: int | None = None
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.ws.recv(timeout=left)
        except ConnectionClosed as closed:
            ws_code = closed.rcvd.code if closed.rcvd is not None else None
        except TimeoutError:
            pass
        return ws_code, _doc_close(self.doc, deadline)

    def still_open(self) -> None:
        self.ws.send("PING", id="p")
        assert self.ws.recv_type("PONG")["replyTo"] == "p"
        assert self.doc.ping().wait(5)


def _doc_close(doc: ClientConnection, deadline: float) -> int | None:
    try:
        while (left := deadline - time.monotonic()) > 0:
            doc.recv(timeout=left)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    except TimeoutError:
        pass
    return None


def bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['accessToken']}"}


def assert_closed_4401(sockets: list[Sockets], ended_at: float) -> None:
    deadline = ended_at + WITHIN
    for each in sockets:
        assert each.closed_codes(deadline) == (4401, 4401)
        errors = [f for f in each.ws.received if f["type"] == "ERROR"]
        assert [e["data"]["code"] for e in errors] == ["UNAUTHORIZED"]


def test_a_logout_on_one_node_closes_that_sessions_sockets_on_every_node(
    cluster: Callable[[int], list[RunningServer]],
) -> None:
    nodes = cluster(3)
    with httpx.Client(base_url=nodes[0].api, timeout=30) as http, ExitStack() as stack:
        scene = Scene(http)
        of_a = [Sockets(stack, node, scene.a["accessToken"], scene.task_id) for node in nodes]
        of_b = [Sockets(stack, node, scene.b["accessToken"], scene.task_id) for node in nodes]
        answer = http.post("/auth/logout", headers=bearer(scene.a))
        ended_at = time.monotonic()
        assert answer.status_code == 204
        assert_closed_4401(of_a, ended_at)
        for each in of_b:
            each.still_open()
        assert http.get("/auth/me", headers=bearer(scene.a)).status_code == 401


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[RunningServer]:
    """One node on the embedded default: SQLite, no Redis (no broker hop at all)."""
    node = start_server(sqlite_url(tmp_path))
    try:
        yield node
    finally:
        node.stop()


def test_ending_one_session_by_its_id_closes_its_sockets(embedded: RunningServer) -> None:
    with httpx.Client(base_url=embedded.api, timeout=30) as http, ExitStack() as stack:
        scene = Scene(http)
        session_a = embedded.app_state.services.tokens.verify(scene.a["accessToken"]).session_id
        of_a = Sockets(stack, embedded, scene.a["accessToken"], scene.task_id)
        of_b = Sockets(stack, embedded, scene.b["accessToken"], scene.task_id)
        answer = http.delete(f"/auth/sessions/{session_a}", headers=bearer(scene.b))
        ended_at = time.monotonic()
        assert answer.status_code == 204
        assert_closed_4401([of_a], ended_at)
        of_b.still_open()


def test_a_password_change_closes_the_other_sessions_sockets(embedded: RunningServer) -> None:
    with httpx.Client(base_url=embedded.api, timeout=30) as http, ExitStack() as stack:
        scene = Scene(http)
        of_a = Sockets(stack, embedded, scene.a["accessToken"], scene.task_id)
        of_b = Sockets(stack, embedded, scene.b["accessToken"], scene.task_id)
        answer = http.post(
            "/auth/password",
            json={"currentPassword": PASSWORD, "newPassword": "a new long password"},
            headers=bearer(scene.b),
        )
        ended_at = time.monotonic()
        assert answer.status_code == 204, answer.text
        assert_closed_4401([of_a], ended_at)
        of_b.still_open()


def test_a_reused_refresh_token_closes_its_sessions_sockets(embedded: RunningServer) -> None:
    with httpx.Client(base_url=embedded.api, timeout=30) as http, ExitStack() as stack:
        scene = Scene(http)
        of_a = Sockets(stack, embedded, scene.a["accessToken"], scene.task_id)
        of_b = Sockets(stack, embedded, scene.b["accessToken"], scene.task_id)
        spent = scene.a["refreshToken"]
        assert http.post("/auth/refresh", json={"refreshToken": spent}).status_code == 200
        # The refresh kept the session: its sockets stay. Presenting the spent token ends it.
        of_a.still_open()
        answer = http.post("/auth/refresh", json={"refreshToken": spent})
        ended_at = time.monotonic()
        assert answer.status_code == 401
        assert_closed_4401([of_a], ended_at)
        of_b.still_open()
