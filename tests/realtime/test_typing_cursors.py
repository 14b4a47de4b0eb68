"""Typing indicators and cursors: ephemeral, to the other connections of the room only."""

from __future__ import annotations

import time
from typing import Any

from tests.realtime.clients import joined, of_type
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer
from tests.support.ws import WsClient


def scene(api: Api) -> tuple[ApiUser, ApiUser, str, str]:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)
    task_id = alice.create_task(workspace_id, "Shared")["id"]
    return alice, bob, workspace_id, task_id


def typing(client: WsClient, workspace_id: str, task_id: str, is_typing: bool) -> None:
    client.send("USER_TYPING", {"workspaceId": workspace_id, "taskId": task_id, "isTyping": is_typing})


def test_typing_reaches_the_others_and_not_the_sender(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id, task_id = scene(api)
    with (
        joined(node, alice, expect=1) as sender,
        joined(node, alice) as other_tab,
        joined(node, bob) as reader,
    ):
        typing(sender, workspace_id, task_id, True)
        for client in (reader, other_tab):
            frame = client.recv_type("USER_TYPING")
            assert frame["data"] == {
                "workspaceId": workspace_id,
                "taskId": task_id,
                "userId": alice.id,
                "isTyping": True,
            }
            assert "seq" not in frame  # ephemeral: not logged
        typing(sender, workspace_id, task_id, False)
        assert reader.recv_type("USER_TYPING")["data"]["isTyping"] is False
        assert of_type(sender.quiet(), "USER_TYPING", "ERROR") == []


def test_typing_ends_by_itself_five_seconds_after_the_last_refresh(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id, task_id = scene(api)
    with joined(node, alice, expect=1) as sender, joined(node, bob) as reader:
        typing(sender, workspace_id, task_id, True)
        assert reader.recv_type("USER_TYPING")["data"]["isTyping"] is True
        ended = reader.recv_type("USER_TYPING", timeout=7.0)
        assert (ended["data"]["userId"], ended["data"]["isTyping"]) == (alice.id, False)
        assert of_type(sender.quiet(0.1), "USER_TYPING") == []


def test_typing_ends_when_the_typing_connection_goes(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id, task_id = scene(api)
    with joined(node, bob, expect=1) as reader:
        with joined(node, alice, expect=1) as sender:
            typing(sender, workspace_id, task_id, True)
            assert reader.recv_type("USER_TYPING")["data"]["isTyping"] is True
        # Well inside the 5 s after which it would end by itself anyway.
        ended = reader.recv_type("USER_TYPING", timeout=3.0)
        assert ended["data"] == {
            "workspaceId": workspace_id,
            "taskId": task_id,
            "userId": alice.id,
            "isTyping": False,
        }


def test_a_cursor_reaches_the_others_and_not_the_sender(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id, task_id = scene(api)
    with joined(node, alice, expect=1) as sender, joined(node, bob) as reader:
        position = {"x": 12, "y": 34, "field": "title", "offset": 5}
        sender.send("CURSOR_POSITION", {"workspaceId": workspace_id, "taskId": task_id, "position": position})
        frame = reader.recv_type("CURSOR_POSITION")
        assert frame["data"] == {
            "workspaceId": workspace_id,
            "taskId": task_id,
            "userId": alice.id,
            "position": position,
        }
        assert "seq" not in frame
        assert of_type(sender.quiet(), "CURSOR_POSITION", "ERROR") == []


def test_a_cursor_burst_is_thinned_to_twenty_a_second_and_the_latest_wins(
    node: RunningServer, api: Api
) -> None:
    # Default limits: a cursor costs a quarter of a message, so a burst of 100 is not rate-limited.
    alice, bob, workspace_id, task_id = scene(api)
    with joined(node, alice, expect=1) as sender, joined(node, bob) as reader:
        started = time.monotonic()
        for i in range(100):
            sender.send(
                "CURSOR_POSITION", {"workspaceId": workspace_id, "taskId": task_id, "position": {"x": i}}
            )
        received: list[dict[str, Any]] = []
        while not received or received[-1]["data"]["position"] != {"x": 99}:
            try:  # a pause of a second is twenty throttle intervals: the burst is over
                received.append(reader.recv_type("CURSOR_POSITION", timeout=1.0))
            except TimeoutError:
                break
        received += of_type(reader.quiet(0.3), "CURSOR_POSITION")  # a short tail: nothing after the last
        window = time.monotonic() - started
        positions = [frame["data"]["position"]["x"] for frame in received]
        assert positions and positions[-1] == 99, f"the latest position never arrived: {positions}"
        assert positions == sorted(set(positions))  # no repeats, never an older one after a newer
        assert len(received) <= 20 * window + 1
        assert len(received) < 50
        assert of_type(sender.received, "ERROR") == []


def test_typing_or_a_cursor_naming_a_task_of_another_workspace_is_refused_and_relayed_to_nobody(
    node: RunningServer, api: Api
) -> None:
    alice, bob, workspace_id, _ = scene(api)
    elsewhere = alice.create_workspace("Elsewhere")["id"]
    foreign_task = alice.create_task(elsewhere, "Not in this room")["id"]
    with joined(node, alice) as sender, joined(node, bob) as reader:
        for n, task_id in enumerate([foreign_task, "<img src=x onerror=alert(1)>", "no-such-task"]):
            sender.send(
                "USER_TYPING", {"workspaceId": workspace_id, "taskId": task_id, "isTyping": True}, id=f"t{n}"
            )
            error = sender.recv_type("ERROR")
            assert (error["data"]["code"], error["replyTo"]) == ("INVALID_MESSAGE", f"t{n}")
            sender.send(
                "CURSOR_POSITION",
                {"workspaceId": workspace_id, "taskId": task_id, "position": {"x": 1}},
                id=f"c{n}",
            )
            error = sender.recv_type("ERROR")
            assert (error["data"]["code"], error["replyTo"]) == ("INVALID_MESSAGE", f"c{n}")
        assert of_type(reader.quiet(), "USER_TYPING", "CURSOR_POSITION") == []


def test_a_stop_of_typing_never_started_is_relayed_only_for_a_task_of_the_workspace(
    node: RunningServer, api: Api
) -> None:
    alice, bob, workspace_id, task_id = scene(api)
    elsewhere = alice.create_workspace("Elsewhere")["id"]
    foreign_task = alice.create_task(elsewhere, "Not in this room")["id"]
    with joined(node, alice) as sender, joined(node, bob) as reader:
        for stranger in (foreign_task, "<b>not a task</b>"):
            typing(sender, workspace_id, stranger, False)
        typing(sender, workspace_id, task_id, False)  # a task of the room: relayed
        stops = of_type(reader.quiet(0.5), "USER_TYPING")
        assert [frame["data"]["taskId"] for frame in stops] == [task_id]
        assert of_type(sender.quiet(), "ERROR") == []  # a stop is never an error
