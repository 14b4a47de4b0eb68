"""The life of one WebSocket connection (PROTOCOL §3.1): CONNECT, AUTHENTICATE, PING, timeouts, shutdown."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from tests.support.api import Api
from tests.support.raw_ws import SilentWsClient
from tests.support.servers import RunningServer
from tests.support.tokens import SECRET
from tests.support.ws import WsClient


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- CONNECT ------------------------------------------------------------------------------------


def test_the_server_speaks_first_with_connect(node: RunningServer) -> None:
    with WsClient(node.ws_url) as ws:
        frame = ws.recv()
    assert frame["type"] == "CONNECT"
    assert set(frame["data"]) == {"connectionId", "nodeId", "heartbeatInterval", "authTimeout"}
    assert isinstance(frame["data"]["connectionId"], str) and frame["data"]["connectionId"]
    assert frame["data"]["nodeId"] == node.settings.node_id
    assert frame["data"]["heartbeatInterval"] == node.settings.ws_heartbeat_interval
    assert frame["data"]["authTimeout"] == node.settings.ws_auth_timeout
    parse_time(frame["timestamp"])


def test_every_connection_gets_its_own_id(node: RunningServer) -> None:
    with WsClient(node.ws_url) as first, WsClient(node.ws_url) as second:
        ids = {
            first.recv_type("CONNECT")["data"]["connectionId"],
            second.recv_type("CONNECT")["data"]["connectionId"],
        }
    assert len(ids) == 2


def test_connect_announces_this_nodes_settings(node_factory: Callable[..., RunningServer]) -> None:
    private = node_factory(ws_heartbeat_interval=1234, ws_auth_timeout=4321)
    with WsClient(private.ws_url) as ws:
        data = ws.recv_type("CONNECT")["data"]
    assert (data["heartbeatInterval"], data["authTimeout"]) == (1234, 4321)


# --- AUTHENTICATE -------------------------------------------------------------------------------


def test_authenticate_answers_who_until_when_and_which_rooms(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    first = alice.create_workspace("First")
    second = alice.create_workspace("Second")
    alice.create_task(second["id"], "one")
    alice.create_task(second["id"], "two")
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": alice.token}, id="auth-1")
        reply = ws.recv_type("AUTHENTICATE", "ERROR")
    assert reply["type"] == "AUTHENTICATE"
    assert reply["replyTo"] == "auth-1"
    data = reply["data"]
    assert set(data) == {"success", "userId", "expiresAt", "workspaces", "denied"}
    assert data["success"] is True
    assert data["userId"] == alice.id
    token_exp = jwt.decode(alice.token, SECRET, algorithms=["HS256"], audience="taskroom")["exp"]
    assert parse_time(data["expiresAt"]) == datetime.fromtimestamp(token_exp, UTC)
    assert sorted(data["workspaces"], key=lambda w: w["id"]) == sorted(
        [{"id": first["id"], "seq": 0}, {"id": second["id"], "seq": 2}], key=lambda w: w["id"]
    )
    assert data["denied"] == []


def test_the_original_designs_authenticate_example_works_as_written(node: RunningServer, api: Api) -> None:
    # {type: 'AUTHENTICATE', data: {token}, timestamp} with the epoch-millisecond number it sent; no id.
    alice = api.register("Alice")
    workspace = alice.create_workspace()
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send_raw(
            json.dumps({"type": "AUTHENTICATE", "data": {"token": alice.token}, "timestamp": 1732630000000})
        )
        reply = ws.recv_type("AUTHENTICATE", "ERROR")
        assert reply["type"] == "AUTHENTICATE"
        assert "replyTo" not in reply
        assert reply["data"]["success"] is True
        assert reply["data"]["workspaces"] == [{"id": workspace["id"], "seq": 0}]
        # and the connection is live: events of the workspace arrive
        alice.create_task(workspace["id"], "hello")
        assert ws.recv_events(1)[0]["type"] == "TASK_CREATED"


def test_workspace_ids_narrow_the_rooms_and_deny_the_rest_alike(node: RunningServer, api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    wanted = alice.create_workspace("Wanted")
    unwanted = alice.create_workspace("Not asked for")
    bobs = bob.create_workspace("Bob's, not Alice's")
    nonexistent = "00000000-0000-4000-8000-000000000000"
    with WsClient(node.ws_url) as ws:
        auth = ws.authenticate(
            alice.token, workspaceIds=[wanted["id"], bobs["id"], nonexistent, wanted["id"]]
        )
        assert auth["workspaces"] == [{"id": wanted["id"], "seq": 0}]
        # a foreign workspace and one that does not exist are denied the same way: existence does not leak
        assert auth["denied"] == [bobs["id"], nonexistent]
        alice.create_task(unwanted["id"], "not for this connection")
        bob.create_task(bobs["id"], "not for Alice at all")
        alice.create_task(wanted["id"], "for this connection")
        event = ws.recv_events(1)[0]
        assert event["data"]["workspaceId"] == wanted["id"]
        assert [frame for frame in ws.quiet() if "seq" in frame] == []


def test_an_empty_workspace_ids_list_joins_nothing(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    alice.create_workspace()
    with WsClient(node.ws_url) as ws:
        auth = ws.authenticate(alice.token, workspaceIds=[])
    assert (auth["workspaces"], auth["denied"]) == ([], [])


# --- before authentication ------------------------------------------------------------------------

BEFORE_AUTH: dict[str, Callable[[str], dict[str, Any]]] = {
    "SYNC_REQUEST": lambda ws_id: {"workspaceId": ws_id, "sinceSeq": 0},
    "USER_PRESENCE": lambda ws_id: {"workspaceId": ws_id, "status": "online"},
    "USER_TYPING": lambda ws_id: {"workspaceId": ws_id, "taskId": "t", "isTyping": True},
    "CURSOR_POSITION": lambda ws_id: {"workspaceId": ws_id, "position": {"x": 1}},
}


@pytest.mark.parametrize("frame_type", list(BEFORE_AUTH))
def test_before_authentication_only_authenticate_and_ping_are_accepted(
    node: RunningServer, api: Api, frame_type: str
) -> None:
    alice = api.register("Alice")
    workspace = alice.create_workspace()
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send(frame_type, BEFORE_AUTH[frame_type](workspace["id"]), id="early")
        error = ws.recv_type("ERROR")
        assert error["data"]["code"] == "NOT_AUTHENTICATED"
        assert error["replyTo"] == "early"
        # the connection stays open and can still authenticate
        ws.send("AUTHENTICATE", {"token": alice.token}, id="auth")
        assert ws.recv_type("AUTHENTICATE", "ERROR")["type"] == "AUTHENTICATE"


def test_ping_is_answered_with_pong_before_and_after_authentication(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("PING", {}, id="p1")
        pong = ws.recv_type("PONG", "ERROR")
        assert pong["type"] == "PONG"
        assert pong["replyTo"] == "p1"
        parse_time(pong["data"]["serverTime"])
        ws.send("AUTHENTICATE", {"token": alice.token})
        ws.recv_type("AUTHENTICATE")
        ws.send("PING", id="p2")  # data {} by default
        pong = ws.recv_type("PONG", "ERROR")
        assert (pong["type"], pong["replyTo"]) == ("PONG", "p2")
        parse_time(pong["data"]["serverTime"])
        ws.send_raw('{"type":"PING"}')  # no data, no id
        pong = ws.recv_type("PONG", "ERROR")
        assert pong["type"] == "PONG" and "replyTo" not in pong


def test_a_connection_that_does_not_authenticate_in_time_is_closed_4408(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    private = node_factory(ws_auth_timeout=300)
    alice = api_factory(private).register("Alice")
    with WsClient(private.ws_url) as idle:
        assert idle.recv_type("CONNECT")["data"]["authTimeout"] == 300
        idle.send("PING", id="pings-do-not-count")
        assert idle.recv_type("PONG")["replyTo"] == "pings-do-not-count"
        assert idle.wait_closed() == 4408
    with WsClient(private.ws_url) as authenticated:
        authenticated.authenticate(alice.token)
        # the timeout is for authenticating only: past it, the authenticated connection lives on
        assert [frame for frame in authenticated.quiet(0.5) if frame["type"] == "ERROR"] == []
        authenticated.send("PING", id="still-here")
        assert authenticated.recv_type("PONG")["replyTo"] == "still-here"


# --- shutdown and protocol pings ------------------------------------------------------------------


def test_shutdown_closes_every_connection_with_1001(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    private = node_factory()
    alice = api_factory(private).register("Alice")
    alice.create_workspace()
    with WsClient(private.ws_url) as authenticated, WsClient(private.ws_url) as anonymous:
        authenticated.authenticate(alice.token)
        anonymous.recv_type("CONNECT")
        private.stop()
        assert authenticated.wait_closed() == 1001
        assert anonymous.wait_closed() == 1001


def test_a_node_shutting_down_lets_no_new_connection_in(node_factory: Callable[..., RunningServer]) -> None:
    private = node_factory()
    # A peer that never answers the close keeps the node in its shutdown while the test looks.
    with SilentWsClient(private.ws_url) as lingering:
        stopping = threading.Thread(target=private.stop)
        stopping.start()
        assert lingering.wait_close_frame() == 1001
        with pytest.raises(ConnectionRefusedError):
            WsClient(private.ws_url)
        lingering.close()
        stopping.join()


def test_a_client_that_answers_protocol_pings_stays_connected_past_the_timeout(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    private = node_factory(ws_ping_interval=200, ws_connection_timeout=600)
    alice = api_factory(private).register("Alice")
    with WsClient(private.ws_url) as ws:  # the websockets client answers pings by itself
        ws.authenticate(alice.token)
        assert not any(frame["type"] == "ERROR" for frame in ws.quiet(1.5))  # several timeouts long
        ws.send("PING", id="alive")
        assert ws.recv_type("PONG")["replyTo"] == "alive"


def test_a_silent_client_is_dropped(node_factory: Callable[..., RunningServer]) -> None:
    # A long authentication timeout, so that only the unanswered pings can end the connection.
    private = node_factory(ws_ping_interval=200, ws_connection_timeout=600, ws_auth_timeout=60_000)
    with SilentWsClient(private.ws_url) as silent:
        silent.wait_dropped()
        assert silent.pings, "the server pinged before giving up"
