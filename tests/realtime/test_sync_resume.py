"""Sync and resume: a client that says what it last saw gets the rest, once and in order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pytest

from tests.realtime.clients import joined, logged, of_type, read_events_until, seqs
from tests.support.api import Api, ApiUser
from tests.support.bulk import column_keys, insert_tasks
from tests.support.observe import events_of, latest_seq, members_of, tasks_of
from tests.support.servers import RunningServer, start_server
from tests.support.ws import WsClient


def workspace_with_tasks(user: ApiUser, count: int) -> str:
    workspace_id = str(user.create_workspace()["id"])
    for n in range(count):
        user.create_task(workspace_id, f"Task {n}")
    return workspace_id


def sync(client: WsClient, workspace_id: str, since: int, id: str, **extra: Any) -> dict[str, Any]:
    client.send("SYNC_REQUEST", {"workspaceId": workspace_id, "sinceSeq": since, **extra}, id=id)
    reply = client.recv_type("SYNC_RESPONSE", "ERROR")
    assert reply["type"] == "SYNC_RESPONSE", reply
    assert reply["replyTo"] == id
    return dict(reply["data"])


def prune_everything(node: RunningServer, user: ApiUser, workspace_id: str) -> None:
    """Run the retention job (WS_EVENT_RETENTION is 1 ms on these nodes): the whole log is gone."""
    node.call(node.app_state.services.prune)
    response = user.get(f"/workspaces/{workspace_id}/events", params={"since": 0})
    assert response.status_code == 410, response.text


def assert_snapshot_is_the_workspace(snapshot: dict[str, Any], user: ApiUser, workspace_id: str) -> None:
    assert set(snapshot) == {"workspace", "members", "tasks"}
    assert snapshot["workspace"] == user.get(f"/workspaces/{workspace_id}").json()
    assert snapshot["members"] == members_of(user, workspace_id)
    assert snapshot["tasks"] == tasks_of(user, workspace_id)


# --- SYNC_REQUEST -------------------------------------------------------------------------------


def test_sync_request_pages_through_the_log(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = workspace_with_tasks(alice, 7)
    log = events_of(alice, workspace_id)
    with joined(node, alice, expect=1) as ws:
        pages = [sync(ws, workspace_id, since, id=f"s{since}", limit=3) for since in (0, 3, 6, 7)]
        assert [(seqs(p["events"]), p["hasMore"], p["latestSeq"]) for p in pages] == [
            ([1, 2, 3], True, 7),
            ([4, 5, 6], True, 7),
            ([7], False, 7),
            ([], False, 7),
        ]
        assert [e for p in pages for e in p["events"]] == log  # the same envelopes as live and REST
        assert all(p["workspaceId"] == workspace_id for p in pages)
        everything = sync(ws, workspace_id, 0, id="all")
        assert (everything["events"], everything["hasMore"]) == (log, False)


def test_sync_request_older_than_the_retention_answers_a_reset_snapshot(
    node_factory: Callable[..., RunningServer],
) -> None:
    private = node_factory(ws_event_retention=1)
    api = Api(private.api)
    try:
        alice, bob = api.register("Alice"), api.register("Bob")
        workspace_id = workspace_with_tasks(alice, 3)
        alice.add_member(workspace_id, bob)
        prune_everything(private, alice, workspace_id)
        with joined(private, bob, expect=1) as ws:
            reply = sync(ws, workspace_id, 0, id="old")
            assert set(reply) == {"workspaceId", "reset", "snapshot", "latestSeq"}
            assert (reply["workspaceId"], reply["reset"], reply["latestSeq"]) == (workspace_id, True, 4)
            assert_snapshot_is_the_workspace(reply["snapshot"], bob, workspace_id)
            assert [t["title"] for t in reply["snapshot"]["tasks"]] == ["Task 0", "Task 1", "Task 2"]
    finally:
        api.close()


# --- resume on AUTHENTICATE ---------------------------------------------------------------------


def test_resume_sends_the_missed_events_first_then_live_ones(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = workspace_with_tasks(alice, 5)
    with WsClient(node.ws_url) as ws:
        reply = ws.authenticate(alice.token, resume={workspace_id: 2})
        assert reply["workspaces"] == [{"id": workspace_id, "seq": 5}]
        missed = ws.recv_events(3)
        ws.recv_type("PRESENCE_STATE")
        alice.create_task(workspace_id, "Live")
        live = ws.recv_events(1)
        assert missed + live == events_of(alice, workspace_id, since=2)
        assert logged(ws.quiet()) == []


def test_resume_from_the_latest_seq_replays_nothing(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = workspace_with_tasks(alice, 3)
    with WsClient(node.ws_url) as ws:
        ws.authenticate(alice.token, resume={workspace_id: 3})
        ws.recv_type("PRESENCE_STATE")
        alice.create_task(workspace_id, "Live")
        assert seqs(ws.recv_events(1)) == [4]
        assert seqs(logged(ws.received)) == [4]


@pytest.mark.parametrize("room_open", [False, True], ids=["new-room", "open-room"])
def test_resume_while_others_write_has_no_gap_and_no_duplicate(
    node: RunningServer, api: Api, room_open: bool
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = workspace_with_tasks(alice, 5)
    alice.add_member(workspace_id, bob)  # seq 6
    writes_per_writer, failures = 25, []
    started = threading.Event()

    def hammer(user: ApiUser) -> None:
        own = user.on_own_connection()
        try:
            for n in range(writes_per_writer):
                if own.post(f"/workspaces/{workspace_id}/tasks", json={"title": f"t{n}"}).status_code != 201:
                    failures.append(n)
                if n == 3:
                    started.set()
        finally:
            own.http.close()

    with ExitStack() as stack:
        watchers = [stack.enter_context(joined(node, alice, expect=1))] if room_open else []
        writers = [threading.Thread(target=hammer, args=(user,)) for user in (alice, bob)]
        for writer in writers:
            writer.start()
        started.wait(10)
        ws = stack.enter_context(WsClient(node.ws_url))
        joined_at = ws.authenticate(bob.token, resume={workspace_id: 4})["workspaces"][0]["seq"]
        for writer in writers:
            writer.join()
        assert failures == []
        final = latest_seq(alice, workspace_id)
        assert final == 6 + 2 * writes_per_writer
        assert joined_at < final  # the writers did go on while the missed events were replayed
        received = read_events_until(ws, workspace_id, final)
        assert seqs(received) == list(range(5, final + 1))
        assert received == events_of(alice, workspace_id, since=4)
        assert logged(ws.quiet(0.2)) == []
        for watcher in watchers:  # and the connection that was live all along saw the same
            assert read_events_until(watcher, workspace_id, final) == events_of(alice, workspace_id, since=6)


def test_resume_past_the_retention_gives_a_reset_snapshot_then_live_events(
    node_factory: Callable[..., RunningServer],
) -> None:
    private = node_factory(ws_event_retention=1)
    api = Api(private.api)
    try:
        alice = api.register("Alice")
        workspace_id = workspace_with_tasks(alice, 4)
        prune_everything(private, alice, workspace_id)
        with WsClient(private.ws_url) as ws:
            ws.authenticate(alice.token, resume={workspace_id: 1})
            reset = ws.recv_type("SYNC_RESPONSE")["data"]
            assert (reset["workspaceId"], reset["reset"], reset["latestSeq"]) == (workspace_id, True, 4)
            assert_snapshot_is_the_workspace(reset["snapshot"], alice, workspace_id)
            task = alice.create_task(workspace_id, "After the reset")
            live = ws.recv_events(1)[0]
            assert (live["seq"], live["data"]["task"]) == (5, task)
            assert seqs(logged(ws.received)) == [5]  # nothing from before the snapshot
            assert of_type(ws.received, "ERROR") == []
    finally:
        api.close()


def test_a_client_resumes_on_a_restarted_node_and_loses_nothing(
    backend: str, database_factory: Callable[[str], str]
) -> None:
    """The node goes away (1001) while the client has seen only part of the log; more is written
    on the next node over the same database; resuming there yields every event once, in order."""
    url = database_factory(backend)
    first = start_server(url)
    api = Api(first.api)
    try:
        alice = api.register("Alice")
        workspace_id = alice.create_workspace()["id"]
        with joined(first, alice, expect=1) as ws:
            for i in range(5):
                alice.create_task(workspace_id, f"before {i}")
            seen = ws.recv_events(3)  # the client falls behind: seqs 4 and 5 are never read
            first.stop()
            assert ws.wait_closed() == 1001
    finally:
        api.close()
        first.stop()
    second = start_server(url)
    api = Api(second.api)
    try:
        alice.http = api.http
        for i in range(3):
            alice.create_task(workspace_id, f"after {i}")
        last_seen = seen[-1]["seq"]
        with WsClient(second.ws_url) as ws:
            auth = ws.authenticate(alice.token, resume={workspace_id: last_seen})
            assert auth["workspaces"] == [{"id": workspace_id, "seq": 8}]
            resumed = ws.recv_events(5)
            assert seqs(resumed) == [4, 5, 6, 7, 8]
            assert resumed == events_of(alice, workspace_id, since=last_seen)
            assert logged(ws.quiet()) == []
    finally:
        api.close()
        second.stop()


def test_resume_from_a_seq_the_log_never_had_gives_a_reset_snapshot_then_live_events(
    node: RunningServer, api: Api
) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    alice.create_task(workspace_id, "One")
    alice.create_task(workspace_id, "Two")
    with WsClient(node.ws_url) as ws:
        ws.authenticate(alice.token, resume={workspace_id: 1000})
        reset = ws.recv_type("SYNC_RESPONSE")["data"]
        assert reset["reset"] is True
        assert reset["latestSeq"] == 2
        assert [t["title"] for t in reset["snapshot"]["tasks"]] == ["One", "Two"]
        alice.create_task(workspace_id, "Three")
        assert seqs(ws.recv_events(1)) == [3]


def test_a_reset_snapshot_of_a_big_workspace_holds_every_task_once_in_board_order(
    node: RunningServer, api: Api
) -> None:
    """The snapshot reads its tasks in pages of 500 under one lock: 1,234 tasks cross two page
    ends and a column end inside a page, with repeated positions at some of them."""
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    alice.create_task(workspace_id, "Logged")
    rows = [
        {"status": status, "position": position, "title": f"{status} {index}"}
        for status, count in (("done", 300), ("todo", 534), ("in_progress", 400))
        for index, position in enumerate(column_keys(count, ties_every=9))
    ]
    insert_tasks(node, workspace_id, alice.id, rows)
    with WsClient(node.ws_url) as ws:
        ws.authenticate(alice.token, resume={workspace_id: 1000})
        reset = ws.recv_type("SYNC_RESPONSE")["data"]
    assert (reset["reset"], reset["latestSeq"]) == (True, 1)
    tasks = reset["snapshot"]["tasks"]
    ids = [t["id"] for t in tasks]
    assert len(ids) == len(set(ids)) == 1235
    rank = {"todo": 0, "in_progress": 1, "done": 2}
    assert tasks == sorted(tasks, key=lambda t: (rank[t["status"]], t["position"].encode(), t["id"]))
    assert tasks == tasks_of(alice, workspace_id)
