"""Presence: who is in a workspace, over all of each user's connections."""

from __future__ import annotations

from tests.realtime.clients import joined, of_type
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer
from tests.support.ws import WsClient


def shared_workspace(api: Api) -> tuple[ApiUser, ApiUser, str]:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)
    return alice, bob, workspace_id


def presence_of(client: WsClient, user_id: str) -> dict[str, str]:
    """The data of the next USER_PRESENCE about `user_id`."""
    while True:
        frame = client.recv_type("USER_PRESENCE")
        if frame["data"]["userId"] == user_id:
            return dict(frame["data"])


def test_presence_state_after_joining_lists_the_users_present(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id = shared_workspace(api)
    with joined(node, alice, expect=1) as first:
        first_state = first.received[-1]
        assert first_state["type"] == "PRESENCE_STATE"
        assert [u["userId"] for u in first_state["data"]["users"]] == [alice.id]
        with WsClient(node.ws_url) as second:
            second.authenticate(bob.token)
            state = second.recv_type("PRESENCE_STATE")["data"]
            assert state["workspaceId"] == workspace_id
            users = {u["userId"]: u for u in state["users"]}
            assert set(users) == {alice.id, bob.id}
            assert all(u["status"] == "online" and u["lastSeen"] for u in users.values())


def test_a_user_arriving_is_announced_to_the_others(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id = shared_workspace(api)
    with joined(node, alice, expect=1) as watcher, joined(node, bob, expect=1):
        arrived = presence_of(watcher, bob.id)
        assert (arrived["workspaceId"], arrived["status"]) == (workspace_id, "online")
        assert arrived["lastSeen"]


def test_a_status_change_goes_to_the_others_and_not_back_to_the_sender(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id = shared_workspace(api)
    with joined(node, alice, expect=1) as watcher, joined(node, bob, expect=1) as sender:
        presence_of(watcher, bob.id)  # arrival
        sender.send("USER_PRESENCE", {"workspaceId": workspace_id, "status": "away"}, id="p1")
        changed = presence_of(watcher, bob.id)
        assert (changed["workspaceId"], changed["status"]) == (workspace_id, "away")
        assert of_type(sender.quiet(), "USER_PRESENCE", "ERROR") == []


def test_a_user_with_two_tabs_stays_online_until_the_last_one_closes(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id = shared_workspace(api)
    with joined(node, alice, expect=1) as watcher, joined(node, bob) as tab1, joined(node, bob) as tab2:
        assert presence_of(watcher, bob.id)["status"] == "online"
        tab1.close()
        assert of_type(watcher.quiet(), "USER_PRESENCE") == []  # still online through tab2
        tab2.close()
        gone = presence_of(watcher, bob.id)
        assert (gone["workspaceId"], gone["status"]) == (workspace_id, "offline")
        assert gone["lastSeen"]
        with WsClient(node.ws_url) as later:
            later.authenticate(alice.token)
            users = later.recv_type("PRESENCE_STATE")["data"]["users"]
            assert [u["userId"] for u in users] == [alice.id]


def test_a_users_status_is_the_most_available_over_their_connections(node: RunningServer, api: Api) -> None:
    alice, bob, workspace_id = shared_workspace(api)
    with joined(node, alice, expect=1) as watcher, joined(node, bob) as tab1, joined(node, bob) as tab2:
        assert presence_of(watcher, bob.id)["status"] == "online"
        tab1.send("USER_PRESENCE", {"workspaceId": workspace_id, "status": "away"})
        assert of_type(watcher.quiet(), "USER_PRESENCE") == []  # tab2 is still online
        tab2.send("USER_PRESENCE", {"workspaceId": workspace_id, "status": "busy"})
        assert presence_of(watcher, bob.id)["status"] == "busy"  # busy beats away
        tab2.close()
        assert presence_of(watcher, bob.id)["status"] == "away"  # what tab1 says
        with WsClient(node.ws_url) as later:
            later.authenticate(alice.token)
            users = {u["userId"]: u["status"] for u in later.recv_type("PRESENCE_STATE")["data"]["users"]}
            assert users == {alice.id: "online", bob.id: "away"}
        tab1.close()
        assert presence_of(watcher, bob.id)["status"] == "offline"
