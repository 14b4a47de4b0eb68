"""Delivery: every committed change reaches every connection of its room once, in seq order, as logged."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any

from tests.realtime.clients import about, joined, logged, of_type, read_events_until, seqs
from tests.support.api import Api, ApiUser
from tests.support.observe import events_of
from tests.support.servers import RunningServer


def make_every_kind_of_change(alice: ApiUser, workspace_id: str, carol: ApiUser) -> list[str]:
    """One REST call per event type of PROTOCOL §3.2 (bar WORKSPACE_DELETED), plus a role change."""
    task = alice.create_task(workspace_id, "Draft", status="todo")
    other = alice.create_task(workspace_id, "Other", status="in_progress")
    steps: list[tuple[str, Any]] = [
        ("TASK_UPDATED", lambda: alice.patch(f"/tasks/{task['id']}", json={"title": "Final"})),
        ("TASK_COMPLETED", lambda: alice.post(f"/tasks/{task['id']}/complete", json={"completed": True})),
        ("TASK_COMPLETED", lambda: alice.post(f"/tasks/{task['id']}/complete", json={"completed": False})),
        (
            "TASK_MOVED",
            lambda: alice.post(
                f"/tasks/{task['id']}/move", json={"status": "in_progress", "beforeId": other["id"]}
            ),
        ),
        ("TASK_DELETED", lambda: alice.delete(f"/tasks/{other['id']}")),
        ("WORKSPACE_UPDATED", lambda: alice.patch(f"/workspaces/{workspace_id}", json={"name": "Renamed"})),
        (
            "WORKSPACE_MEMBER_ADDED",
            lambda: alice.post(
                f"/workspaces/{workspace_id}/members", json={"email": carol.email, "role": "viewer"}
            ),
        ),
        (
            "WORKSPACE_MEMBER_UPDATED",
            lambda: alice.patch(f"/workspaces/{workspace_id}/members/{carol.id}", json={"role": "member"}),
        ),
        ("WORKSPACE_MEMBER_REMOVED", lambda: alice.delete(f"/workspaces/{workspace_id}/members/{carol.id}")),
    ]
    for _, call in steps:
        response = call()
        assert response.status_code in (200, 201, 204), response.text
    return ["TASK_CREATED", "TASK_CREATED", *(kind for kind, _ in steps)]


def test_every_rest_change_reaches_every_connection_once_in_order_as_logged(
    node: RunningServer, api: Api
) -> None:
    alice, bob, carol = api.register("Alice"), api.register("Bob"), api.register("Carol")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)  # seq 1, before anyone listens
    with ExitStack() as stack:
        clients = [stack.enter_context(joined(node, user, expect=1)) for user in (alice, bob, bob)]
        expected_types = make_every_kind_of_change(alice, workspace_id, carol)
        log = events_of(alice, workspace_id, since=1)
        assert [e["type"] for e in log] == expected_types
        for client in clients:
            received = client.recv_events(len(expected_types))
            assert seqs(received) == list(range(2, 2 + len(expected_types)))
            assert received == log  # the very envelope the log holds: type, data, timestamp, seq, eventId
            assert all(isinstance(e["eventId"], str) and e["eventId"] for e in received)
            assert logged(client.quiet()) == []  # once: nothing is delivered twice


def test_event_data_has_the_protocol_shape(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    with joined(node, alice, expect=1) as ws:
        task = alice.create_task(workspace_id, "Shape")
        moved = alice.post(f"/tasks/{task['id']}/move", json={"status": "done"}).json()
        patched = alice.patch(f"/tasks/{task['id']}", json={"priority": "high", "title": "Shaped"}).json()
        created, move, update = ws.recv_events(3)
    assert created["data"] == {"workspaceId": workspace_id, "task": task, "actorId": alice.id}
    assert move["data"] == {
        "workspaceId": workspace_id,
        "task": moved,
        "from": {"status": "todo", "position": task["position"]},
        "to": {"status": "done", "position": moved["position"]},
        "actorId": alice.id,
    }
    assert update["data"]["task"] == patched
    assert sorted(update["data"]["changes"]) == ["priority", "title"]
    for frame in (created, move, update):
        assert set(frame) >= {"type", "data", "timestamp", "seq", "eventId"}


def test_concurrent_writers_are_seen_by_every_client_as_one_gapless_sequence(
    node: RunningServer, api: Api
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)
    writers, per_writer = 4, 10
    total = 1 + writers * per_writer
    failures: list[str] = []

    def write(user: ApiUser, n: int) -> None:
        own = user.on_own_connection()
        try:
            for i in range(per_writer):
                response = own.post(f"/workspaces/{workspace_id}/tasks", json={"title": f"w{n}-{i}"})
                if response.status_code != 201:
                    failures.append(response.text)
        finally:
            own.http.close()

    with ExitStack() as stack:
        clients = [stack.enter_context(joined(node, user, expect=1)) for user in (alice, bob, bob)]
        threads = [threading.Thread(target=write, args=(alice if n % 2 else bob, n)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        log = events_of(alice, workspace_id, since=1)
        assert seqs(log) == list(range(2, total + 1))
        for client in clients:
            received = read_events_until(client, workspace_id, total)
            assert received == log
            assert logged(client.quiet(0.2)) == []


def test_workspace_created_reaches_only_the_creators_connections_which_join_it(
    node: RunningServer, api: Api
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    shared = alice.create_workspace("Shared")["id"]
    alice.add_member(shared, bob)
    with (
        joined(node, alice, expect=1) as tab1,
        joined(node, alice, expect=1) as tab2,
        joined(node, bob) as other,
    ):
        created = alice.create_workspace("New")
        for tab in (tab1, tab2):
            notice = tab.recv_type("WORKSPACE_CREATED")
            assert notice["data"]["workspace"] == created
            assert notice["data"]["actorId"] == alice.id
            assert "seq" not in notice  # user-targeted, not a log event
            state = tab.recv_type("PRESENCE_STATE")
            assert state["data"]["workspaceId"] == created["id"]
            assert alice.id in {u["userId"] for u in state["data"]["users"]}
        task = alice.create_task(created["id"], "First")
        for tab in (tab1, tab2):
            event = tab.recv_events(1)[0]
            assert (event["type"], event["seq"], event["data"]["task"]) == ("TASK_CREATED", 1, task)
        assert of_type(other.quiet(), "WORKSPACE_CREATED") == []
        assert about(other.received, created["id"]) == []


def test_tasks_created_right_after_a_new_workspace_reach_the_creators_connection(
    node: RunningServer, api: Api
) -> None:
    """The connection joins the new room after the notice, perhaps after the first events were
    already fanned out there: it gets them from the log, once and in order."""
    alice = api.register("Alice")
    with joined(node, alice) as tab:
        created = alice.create_workspace("Fast")
        tasks = [alice.create_task(created["id"], f"T{i}") for i in range(5)]
        events = tab.recv_events(5)
        assert [(e["seq"], e["data"]["task"]["id"]) for e in events] == [
            (i + 1, task["id"]) for i, task in enumerate(tasks)
        ]
        assert logged(tab.quiet()) == []
