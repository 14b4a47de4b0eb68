"""Membership changes act on open connections at once, in their place in the event order."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

import pytest

from tests.realtime.clients import about, eventually, joined, logged, of_type, read_events_until, seqs
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer
from tests.support.ws import WsClient


def write_more(alice: ApiUser, workspace_id: str) -> None:
    task = alice.create_task(workspace_id, "After")
    assert alice.patch(f"/tasks/{task['id']}", json={"title": "After, renamed"}).status_code == 200
    assert alice.patch(f"/workspaces/{workspace_id}", json={"description": "more"}).status_code == 200


@pytest.mark.parametrize("owner_connected", [True, False], ids=["room-open", "room-not-open"])
def test_an_added_users_open_connection_joins_at_once(
    node: RunningServer, api: Api, owner_connected: bool
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.create_task(workspace_id, "Before")  # seq 1
    with ExitStack() as stack:
        if owner_connected:
            stack.enter_context(joined(node, alice, expect=1))
        tab = stack.enter_context(joined(node, bob, expect=0))
        member = alice.add_member(workspace_id, bob)  # seq 2
        added = tab.recv_events(1)[0]
        assert (added["type"], added["seq"]) == ("WORKSPACE_MEMBER_ADDED", 2)
        assert added["data"] == {"workspaceId": workspace_id, "member": member, "actorId": alice.id}
        state = tab.recv_type("PRESENCE_STATE")
        assert state["data"]["workspaceId"] == workspace_id
        task = alice.create_task(workspace_id, "Later")  # seq 3
        later = tab.recv_events(1)[0]
        assert (later["type"], later["seq"], later["data"]["task"]) == ("TASK_CREATED", 3, task)
        tab.send("USER_TYPING", {"workspaceId": workspace_id, "taskId": task["id"], "isTyping": True}, id="t")
        assert of_type(tab.quiet(), "ERROR") == []  # the connection is in the room for everything
        assert seqs(logged(tab.received)) == [2, 3]


def test_a_removed_user_gets_the_removal_then_nothing_more_of_that_workspace(
    node: RunningServer, api: Api
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)  # seq 1
    with joined(node, alice, expect=1) as owner, joined(node, bob) as tab1, joined(node, bob) as tab2:
        assert alice.delete(f"/workspaces/{workspace_id}/members/{bob.id}").status_code == 204  # seq 2
        for tab in (tab1, tab2):
            removed = tab.recv_events(1)[0]
            assert (removed["type"], removed["seq"]) == ("WORKSPACE_MEMBER_REMOVED", 2)
            assert removed["data"] == {"workspaceId": workspace_id, "userId": bob.id, "actorId": alice.id}
        write_more(alice, workspace_id)  # seqs 3..5
        owner.send("USER_PRESENCE", {"workspaceId": workspace_id, "status": "busy"})
        assert seqs(read_events_until(owner, workspace_id, 5)) == [2, 3, 4, 5]
        for tab in (tab1, tab2):
            assert about(tab.quiet(), workspace_id) == []
            tab.send("SYNC_REQUEST", {"workspaceId": workspace_id, "sinceSeq": 0}, id="sync")
            error = tab.recv_type("ERROR", "SYNC_RESPONSE")
            assert (error["type"], error["data"]["code"]) == ("ERROR", "FORBIDDEN")


def test_a_member_who_leaves_gets_the_removal_then_nothing_more(node: RunningServer, api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)
    with joined(node, alice, expect=1) as owner, joined(node, bob, expect=1) as tab:
        assert bob.delete(f"/workspaces/{workspace_id}/members/{bob.id}").status_code == 204
        left = tab.recv_events(1)[0]
        assert left["type"] == "WORKSPACE_MEMBER_REMOVED"
        assert left["data"] == {"workspaceId": workspace_id, "userId": bob.id, "actorId": bob.id}
        gone = owner.recv_type("USER_PRESENCE")
        if gone["data"]["status"] == "online":  # bob's arrival, sent before he left
            gone = owner.recv_type("USER_PRESENCE")
        assert (gone["data"]["userId"], gone["data"]["status"]) == (bob.id, "offline")
        write_more(alice, workspace_id)
        assert seqs(read_events_until(owner, workspace_id, 5))[-3:] == [3, 4, 5]
        assert about(tab.quiet(), workspace_id) == []


def test_a_removed_user_is_not_left_in_the_rooms_presence(node: RunningServer, api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)
    with joined(node, bob, expect=1) as tab:
        assert alice.delete(f"/workspaces/{workspace_id}/members/{bob.id}").status_code == 204
        tab.recv_events(1)
        with WsClient(node.ws_url) as owner:
            owner.authenticate(alice.token)
            state = owner.recv_type("PRESENCE_STATE")
            assert [u["userId"] for u in state["data"]["users"]] == [alice.id]


def test_a_deleted_workspace_reaches_everybody_and_then_nothing_more(node: RunningServer, api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)
    task = alice.create_task(workspace_id, "Doomed")  # seq 2
    with joined(node, alice, expect=1) as owner, joined(node, bob, expect=1) as member:
        assert alice.delete(f"/workspaces/{workspace_id}").status_code == 204
        for client in (owner, member):
            deleted = client.recv_events(1)[0]
            assert (deleted["type"], deleted["seq"]) == ("WORKSPACE_DELETED", 3)
            assert deleted["data"] == {"workspaceId": workspace_id, "actorId": alice.id}
        # The connections stay open but are out of the room: nothing of it comes, nothing goes in.
        member.send(
            "USER_TYPING", {"workspaceId": workspace_id, "taskId": task["id"], "isTyping": True}, id="t"
        )
        error = member.recv_type("ERROR")
        assert (error["data"]["code"], error.get("replyTo")) == ("FORBIDDEN", "t")
        assert about(owner.quiet(), workspace_id) == []
        with WsClient(node.ws_url) as again:
            reply = again.authenticate(bob.token, workspaceIds=[workspace_id], resume={workspace_id: 2})
            assert reply["workspaces"] == []
            assert reply["denied"] == [workspace_id]
            assert about(again.quiet(), workspace_id) == []


def test_a_deleted_workspaces_room_is_dropped_while_its_clients_stay_connected(
    node_factory: Callable[..., RunningServer],
) -> None:
    private = node_factory()
    api = Api(private.api)
    try:
        alice = api.register("Alice")
        workspace_id = alice.create_workspace()["id"]
        with joined(private, alice, expect=1) as owner:
            assert list(private.app_state.node.hub.rooms) == [workspace_id]
            assert alice.delete(f"/workspaces/{workspace_id}").status_code == 204
            owner.recv_events(1)
            eventually(lambda: not private.app_state.node.hub.rooms)
            assert api.http.get("/ws/metrics").json()["rooms"] == 0
    finally:
        api.close()


def test_rooms_and_connections_are_cleaned_up_when_everybody_leaves(
    node_factory: Callable[..., RunningServer],
) -> None:
    private = node_factory()
    api = Api(private.api)
    try:
        alice, bob = api.register("Alice"), api.register("Bob")
        shared = alice.create_workspace("Shared")["id"]
        alice.create_workspace("Own")
        alice.add_member(shared, bob)
        with ExitStack() as stack:
            for user, count in ((alice, 2), (alice, 2), (bob, 1)):
                stack.enter_context(joined(private, user, expect=count))
            assert api.http.get("/ws/metrics").json()["rooms"] == 2
        hub = private.app_state.node.hub
        eventually(lambda: not hub.registry.connections)
        assert hub.rooms == {}
        assert hub.registry.connections_of(alice.id) == hub.registry.connections_of(bob.id) == []
        metrics = api.http.get("/ws/metrics").json()
        assert metrics["rooms"] == 0
        assert metrics["connections"]["current"] == 0
    finally:
        api.close()
