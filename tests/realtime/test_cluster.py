"""Several nodes on one PostgreSQL and one Redis serve as one service (PROTOCOL §1).

The log poll is switched off on these nodes: what crosses between them here crosses through Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.realtime.clients import about, joined, of_type, read_events_until
from tests.support.api import Api, ApiUser
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis
from tests.support.servers import RunningServer, start_server

NO_LOG_POLL = 600_000


@pytest.fixture
def cluster(database_factory: Callable[[str], str]) -> Iterator[Callable[[int], list[RunningServer]]]:
    """`cluster(n)`: n nodes on one fresh PostgreSQL database and one Redis key prefix."""
    require_redis()
    database_url = database_factory("postgres")
    prefix = fresh_prefix()
    nodes: list[RunningServer] = []

    def make(count: int) -> list[RunningServer]:
        for _ in range(count):
            nodes.append(
                start_server(
                    database_url, redis_url=REDIS_URL, redis_prefix=prefix, ws_log_poll_interval=NO_LOG_POLL
                )
            )
        return nodes

    yield make
    for node in nodes:
        node.stop()


def write_on(node: RunningServer, user: ApiUser, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The user's REST call, made on another node than the one it registered on."""
    with httpx.Client(base_url=node.api, headers={"Authorization": f"Bearer {user.token}"}) as http:
        return http.request(method, path, **kwargs)


def test_an_event_committed_on_one_node_reaches_the_clients_of_another(
    cluster: Callable[[int], list[RunningServer]], api_factory: Callable[[RunningServer], Api]
) -> None:
    a, b = cluster(2)
    api = api_factory(a)
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    with joined(a, alice, expect=1) as on_a, joined(b, alice, expect=1) as on_b:
        created = write_on(b, alice, "POST", f"/workspaces/{workspace_id}/tasks", json={"title": "From B"})
        assert created.status_code == 201
        for client in (on_a, on_b):
            (event,) = read_events_until(client, workspace_id, last_seq=1, timeout=5)
            assert (event["type"], event["data"]["task"]["title"]) == ("TASK_CREATED", "From B")


def test_events_of_three_nodes_reach_every_node_in_one_order(
    cluster: Callable[[int], list[RunningServer]], api_factory: Callable[[RunningServer], Api]
) -> None:
    nodes = cluster(3)
    alice = api_factory(nodes[0]).register("Alice")
    workspace_id = alice.create_workspace()["id"]
    clients = [joined(node, alice, expect=1) for node in nodes]
    try:
        for number in range(9):  # each node writes in turn
            node = nodes[number % 3]
            response = write_on(
                node, alice, "POST", f"/workspaces/{workspace_id}/tasks", json={"title": f"T{number}"}
            )
            assert response.status_code == 201
        for client in clients:
            events = read_events_until(client, workspace_id, last_seq=9, timeout=10)
            assert [e["seq"] for e in events] == list(range(1, 10))
            assert [e["data"]["task"]["title"] for e in events] == [f"T{n}" for n in range(9)]
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize(
    ("message", "data"),
    [
        ("USER_TYPING", {"isTyping": True}),
        ("CURSOR_POSITION", {"position": {"x": 10, "y": 20}}),
    ],
)
def test_typing_and_cursors_on_one_node_reach_the_others_but_not_their_sender(
    message: str,
    data: dict[str, Any],
    cluster: Callable[[int], list[RunningServer]],
    api_factory: Callable[[RunningServer], Api],
) -> None:
    a, b, c = cluster(3)
    api = api_factory(a)
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)
    task_id = alice.create_task(workspace_id)["id"]
    with (
        joined(a, alice, expect=1) as on_a,
        joined(b, bob, expect=1) as on_b,
        joined(c, alice, expect=1) as on_c,
    ):
        on_b.send(message, {"workspaceId": workspace_id, "taskId": task_id, **data})
        for receiver in (on_a, on_c):
            received = receiver.recv_type(message, timeout=5)
            assert received["data"] == {
                "workspaceId": workspace_id,
                "taskId": task_id,
                "userId": bob.id,
                **data,
            }
        assert of_type(on_b.quiet(), message) == []


def test_a_member_removed_on_one_node_hears_nothing_more_on_any_node(
    cluster: Callable[[int], list[RunningServer]], api_factory: Callable[[RunningServer], Api]
) -> None:
    a, b, c = cluster(3)
    api = api_factory(a)
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)  # seq 1
    with joined(a, bob, expect=1) as bob_on_a, joined(c, bob, expect=1) as bob_on_c:
        removed = write_on(b, alice, "DELETE", f"/workspaces/{workspace_id}/members/{bob.id}")  # seq 2
        assert removed.status_code == 204
        for client in (bob_on_a, bob_on_c):
            (event,) = read_events_until(client, workspace_id, last_seq=2, timeout=5)
            assert (event["type"], event["data"]["userId"]) == ("WORKSPACE_MEMBER_REMOVED", bob.id)
        write_on(b, alice, "POST", f"/workspaces/{workspace_id}/tasks", json={"title": "Secret"})
        write_on(a, alice, "PATCH", f"/workspaces/{workspace_id}", json={"name": "Renamed"})
        for client in (bob_on_a, bob_on_c):
            assert about(client.quiet(0.5), workspace_id) == []


def test_a_notification_made_on_one_node_reaches_the_users_connections_on_every_node(
    cluster: Callable[[int], list[RunningServer]], api_factory: Callable[[RunningServer], Api]
) -> None:
    a, b = cluster(2)
    api = api_factory(a)
    alice, bo = api.register("Alice"), api.register("Bo")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bo)
    task = alice.create_task(workspace_id, "Plan")
    # Bo's connections are on both nodes; the comment that mentions him is written on B only.
    with joined(a, bo, expect=1) as on_a, joined(b, bo, expect=1) as on_b, joined(a, alice, expect=1) as own:
        written = write_on(
            b, alice, "POST", f"/tasks/{task['id']}/comments", json={"body": f"@{{{bo.id}}} hi"}
        )
        assert written.status_code == 201, written.text
        frames = [client.recv_type("NOTIFICATION") for client in (on_a, on_b)]
        # The actor's own connection gets the comment event, never a notification.
        own.recv_type("COMMENT_ADDED")
        assert of_type([*own.received, *own.quiet()], "NOTIFICATION") == []
    assert frames[0] == frames[1]
    data = frames[0]["data"]
    assert data["unreadCount"] == 1
    assert data["notification"]["kind"] == "mention" and data["notification"]["actorId"] == alice.id
