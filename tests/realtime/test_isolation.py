"""Isolation: a connection receives nothing of a workspace it has not joined."""

from __future__ import annotations

from tests.realtime.clients import about, joined, logged, read_events_until
from tests.support.api import Api
from tests.support.servers import RunningServer


def test_a_connection_of_one_workspace_receives_nothing_of_another(node: RunningServer, api: Api) -> None:
    alice, bob, carol = api.register("Alice"), api.register("Bob"), api.register("Carol")
    room_a = alice.create_workspace("A")["id"]
    room_b = bob.create_workspace("B")["id"]
    alice.add_member(room_a, carol)
    bob.add_member(room_b, carol)
    task_b = bob.create_task(room_b, "Secret")["id"]
    with (
        joined(node, alice, expect=1) as only_a,
        joined(node, carol, expect=1, workspaceIds=[room_a]) as carol_in_a,
        joined(node, bob, expect=1) as in_b,
        joined(node, bob, expect=1) as watcher_b,
        joined(node, carol, expect=2) as carol_everywhere,
    ):
        # Everything that can happen in B: events, presence, typing, cursors.
        bob.patch(f"/tasks/{task_b}", json={"title": "Still secret"})
        bob.create_task(room_b, "More")
        bob.patch(f"/workspaces/{room_b}", json={"name": "B2"})
        in_b.send("USER_PRESENCE", {"workspaceId": room_b, "status": "busy"})
        in_b.send("USER_TYPING", {"workspaceId": room_b, "taskId": task_b, "isTyping": True})
        in_b.send("CURSOR_POSITION", {"workspaceId": room_b, "taskId": task_b, "position": {"x": 1}})
        carol_everywhere.send("USER_PRESENCE", {"workspaceId": room_b, "status": "away"})
        carol_everywhere.close()
        # ... and in A, so that the A-only connections do receive something.
        alice.create_task(room_a, "Public")

        seen_b = read_events_until(watcher_b, room_b, 5)
        assert [e["type"] for e in seen_b][-3:] == ["TASK_UPDATED", "TASK_CREATED", "WORKSPACE_UPDATED"]
        watcher_b_frames = watcher_b.quiet()
        assert {f["type"] for f in about(watcher_b_frames + watcher_b.received, room_b)} >= {
            "USER_PRESENCE",
            "USER_TYPING",
            "CURSOR_POSITION",
        }
        for client in (only_a, carol_in_a):
            a_events = read_events_until(client, room_a, 2)
            assert [e["type"] for e in a_events] == ["TASK_CREATED"]
            client.quiet()
            assert about(client.received, room_b) == []
            assert all(frame["data"]["workspaceId"] == room_a for frame in logged(client.received))


def test_sending_to_a_workspace_not_joined_is_forbidden(node: RunningServer, api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    alice.create_workspace("A")
    room_b = bob.create_workspace("B")["id"]
    task_b = bob.create_task(room_b, "Secret")["id"]
    with joined(node, alice, expect=1) as outsider, joined(node, bob, expect=1) as insider:
        frames = [
            ("USER_PRESENCE", {"workspaceId": room_b, "status": "away"}),
            ("USER_TYPING", {"workspaceId": room_b, "taskId": task_b, "isTyping": True}),
            ("CURSOR_POSITION", {"workspaceId": room_b, "taskId": task_b, "position": {"x": 1}}),
            ("SYNC_REQUEST", {"workspaceId": room_b, "sinceSeq": 0}),
        ]
        for n, (kind, data) in enumerate(frames):
            outsider.send(kind, data, id=f"f{n}")
            error = outsider.recv_type("ERROR", "SYNC_RESPONSE")
            assert (error["type"], error["data"]["code"], error["replyTo"]) == ("ERROR", "FORBIDDEN", f"f{n}")
        assert about(insider.quiet(), room_b) == []
