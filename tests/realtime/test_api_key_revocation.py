"""An API key on the sockets (PROTOCOL §5.3): it authenticates, receives its workspace's events,
and its deletion closes its sockets, both endpoints, 4401 within 2 seconds on every node.

Each test also holds a person's sockets in the same workspace: they stay open, and see the key's
member leave.
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

from tests.realtime.test_cluster import cluster  # the fixture: nodes on PostgreSQL + Redis
from tests.realtime.test_session_revocation import Sockets, assert_closed_4401
from tests.support.databases import sqlite_url
from tests.support.servers import RunningServer, start_server
from tests.support.ws import WsClient

__all__ = ["cluster"]

PASSWORD = "correct horse battery"


class Scene:
    """An owner with a workspace, a task and a member key of that workspace."""

    def __init__(self, http: httpx.Client) -> None:
        email = f"key.{uuid.uuid4().hex[:10]}@example.test"
        registered = http.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "O"})
        assert registered.status_code == 201, registered.text
        self.owner = {"Authorization": f"Bearer {registered.json()['accessToken']}"}
        self.owner_token = registered.json()["accessToken"]
        self.workspace_id = http.post("/workspaces", json={"name": "W"}, headers=self.owner).json()["id"]
        task = http.post(f"/workspaces/{self.workspace_id}/tasks", json={"title": "T"}, headers=self.owner)
        assert task.status_code == 201, task.text
        self.task_id = task.json()["id"]
        created = http.post(
            f"/workspaces/{self.workspace_id}/api-keys",
            json={"name": "Sync", "role": "member"},
            headers=self.owner,
        )
        assert created.status_code == 201, created.text
        self.key: dict[str, Any] = created.json()
        members = http.get(f"/workspaces/{self.workspace_id}/members", headers=self.owner).json()["items"]
        self.service_id = next(m["userId"] for m in members if m["kind"] == "service")

    def delete_key(self, http: httpx.Client) -> float:
        answer = http.delete(f"/workspaces/{self.workspace_id}/api-keys/{self.key['id']}", headers=self.owner)
        deleted_at = time.monotonic()
        assert answer.status_code == 204, answer.text
        return deleted_at


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[RunningServer]:
    """One node on the embedded default: SQLite, no Redis."""
    node = start_server(sqlite_url(tmp_path))
    try:
        yield node
    finally:
        node.stop()


def test_a_key_authenticates_on_the_socket_and_receives_its_workspaces_events(
    embedded: RunningServer,
) -> None:
    with httpx.Client(base_url=embedded.api, timeout=30) as http, WsClient(embedded.ws_url) as ws:
        scene = Scene(http)
        other = http.post("/workspaces", json={"name": "Other"}, headers=scene.owner).json()["id"]
        welcome = ws.authenticate(scene.key["key"], workspaceIds=[scene.workspace_id, other])
        assert welcome["userId"] == scene.service_id
        assert [w["id"] for w in welcome["workspaces"]] == [scene.workspace_id]
        assert welcome["denied"] == [other]
        made = http.post(f"/workspaces/{scene.workspace_id}/tasks", json={"title": "Hi"}, headers=scene.owner)
        assert made.status_code == 201
        event = ws.recv_type("TASK_CREATED")
        assert event["data"]["task"]["id"] == made.json()["id"]
        # The key writes over REST and its own socket sees its event, with its service user as actor.
        own = http.post(
            f"/workspaces/{scene.workspace_id}/tasks",
            json={"title": "Mine"},
            headers={"Authorization": f"Bearer {scene.key['key']}"},
        )
        assert own.status_code == 201
        assert ws.recv_type("TASK_CREATED")["data"]["actorId"] == scene.service_id


def test_deleting_a_key_closes_its_sockets_and_its_member_leaves(embedded: RunningServer) -> None:
    with httpx.Client(base_url=embedded.api, timeout=30) as http, ExitStack() as stack:
        scene = Scene(http)
        of_key = Sockets(stack, embedded, scene.key["key"], scene.task_id)
        of_owner = Sockets(stack, embedded, scene.owner_token, scene.task_id)
        deleted_at = scene.delete_key(http)
        assert_closed_4401([of_key], deleted_at)
        removed = of_owner.ws.recv_type("WORKSPACE_MEMBER_REMOVED")
        assert removed["data"]["userId"] == scene.service_id
        of_owner.still_open()
        # Refused from now on, on both endpoints.
        with WsClient(embedded.ws_url) as again:
            again.recv_type("CONNECT")
            again.send("AUTHENTICATE", {"token": scene.key["key"]})
            assert again.recv_type("ERROR")["data"]["code"] == "UNAUTHORIZED"
            assert again.wait_closed() == 4401


def test_deleting_a_key_on_one_node_closes_its_sockets_on_both(
    cluster: Callable[[int], list[RunningServer]],
) -> None:
    nodes = cluster(2)
    with httpx.Client(base_url=nodes[0].api, timeout=30) as http, ExitStack() as stack:
        scene = Scene(http)
        of_key = [Sockets(stack, node, scene.key["key"], scene.task_id) for node in nodes]
        of_owner = [Sockets(stack, node, scene.owner_token, scene.task_id) for node in nodes]
        deleted_at = scene.delete_key(http)
        assert_closed_4401(of_key, deleted_at)
        for each in of_owner:
            each.still_open()
        with httpx.Client(base_url=nodes[1].api, timeout=30) as other:
            refused = other.get("/auth/me", headers={"Authorization": f"Bearer {scene.key['key']}"})
            assert refused.status_code == 401


def test_deleting_the_workspace_closes_its_keys_sockets(embedded: RunningServer) -> None:
    with httpx.Client(base_url=embedded.api, timeout=30) as http, ExitStack() as stack:
        scene = Scene(http)
        of_key = Sockets(stack, embedded, scene.key["key"], scene.task_id)
        answer = http.delete(f"/workspaces/{scene.workspace_id}", headers=scene.owner)
        deleted_at = time.monotonic()
        assert answer.status_code == 204, answer.text
        assert of_key.closed_codes(deleted_at + 2.0)[0] == 4401
        refused = http.get("/auth/me", headers={"Authorization": f"Bearer {scene.key['key']}"})
        assert refused.status_code == 401
