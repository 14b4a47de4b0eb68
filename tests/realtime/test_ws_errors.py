"""Frames the server refuses (PROTOCOL §3.3, §3.5): each gets an ERROR and the connection stays open."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer
from tests.support.ws import WsClient


@pytest.fixture
def alice(api: Api) -> ApiUser:
    return api.register("Alice")


@pytest.fixture
def ws(node: RunningServer, alice: ApiUser) -> Iterator[WsClient]:
    """An authenticated connection of Alice's."""
    with WsClient(node.ws_url) as client:
        client.authenticate(alice.token)
        yield client


def assert_still_open(ws: WsClient) -> None:
    ws.send("PING", id="still-open")
    assert ws.recv_type("PONG")["replyTo"] == "still-open"


def error_for(ws: WsClient) -> dict[str, Any]:
    frame = ws.recv_type("ERROR")
    assert set(frame["data"]) <= {"code", "message", "replyTo"}
    assert isinstance(frame["data"]["message"], str) and frame["data"]["message"]
    return frame


# --- INVALID_MESSAGE ----------------------------------------------------------------------------

MALFORMED: dict[str, str | bytes] = {
    "not JSON": "{this is not json",
    "truncated JSON": '{"type": "PING", "data": {',
    "NaN is not JSON": '{"type": "PING", "data": {"x": NaN}}',
    "a JSON array": '[{"type": "PING"}]',
    "a JSON string": '"PING"',
    "a JSON number": "42",
    "JSON null": "null",
    "no type": '{"data": {}}',
    "a numeric type": '{"type": 7, "data": {}}',
    "a binary frame that is not UTF-8": b"\xff\xfe\x00garbage",
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_frame_that_is_not_a_json_object_with_a_type_is_an_invalid_message(
    ws: WsClient, raw: str | bytes
) -> None:
    ws.send_raw(raw)
    assert error_for(ws)["data"]["code"] == "INVALID_MESSAGE"
    assert_still_open(ws)


@pytest.mark.parametrize("command", ["PING", "AUTHENTICATE"])
def test_a_binary_frame_is_not_a_command_even_when_it_holds_one(
    node: RunningServer, alice: ApiUser, command: str
) -> None:
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        data = {"token": alice.token} if command == "AUTHENTICATE" else {}
        ws.send_raw(json.dumps({"type": command, "data": data, "id": "b1"}).encode())
        error = error_for(ws)
        assert error["data"]["code"] == "INVALID_MESSAGE"
        assert [f["type"] for f in ws.quiet()] == []  # no PONG, no AUTHENTICATE answer
        ws.send("PING", id="text")  # still open, and still not authenticated
        assert ws.recv_type("PONG")["replyTo"] == "text"
        ws.send("SYNC_REQUEST", {"workspaceId": "w", "sinceSeq": 0}, id="s")
        assert ws.recv_type("ERROR")["data"]["code"] == "NOT_AUTHENTICATED"


# Frames of known types with a missing field or a field of the wrong type (checked before anything else).
BAD_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "sync without workspaceId": ("SYNC_REQUEST", lambda w: {"sinceSeq": 0}),
    "sync with sinceSeq as a string": ("SYNC_REQUEST", lambda w: {"workspaceId": w, "sinceSeq": "3"}),
    "sync with a negative sinceSeq": ("SYNC_REQUEST", lambda w: {"workspaceId": w, "sinceSeq": -1}),
    "sync with a zero limit": ("SYNC_REQUEST", lambda w: {"workspaceId": w, "sinceSeq": 0, "limit": 0}),
    "sync with a sinceSeq past 64 bits": ("SYNC_REQUEST", lambda w: {"workspaceId": w, "sinceSeq": 2**64}),
    "sync with a sinceSeq of true": ("SYNC_REQUEST", lambda w: {"workspaceId": w, "sinceSeq": True}),
    "resume from a seq past 64 bits": ("AUTHENTICATE", lambda w: {"token": "t", "resume": {w: 10**30}}),
    "typing without taskId": ("USER_TYPING", lambda w: {"workspaceId": w, "isTyping": True}),
    "typing with isTyping as a string": (
        "USER_TYPING",
        lambda w: {"workspaceId": w, "taskId": "t", "isTyping": "yes"},
    ),
    "presence with an unknown status": ("USER_PRESENCE", lambda w: {"workspaceId": w, "status": "asleep"}),
    "presence with a numeric workspaceId": (
        "USER_PRESENCE",
        lambda w: {"workspaceId": 1, "status": "online"},
    ),
    "cursor without position": ("CURSOR_POSITION", lambda w: {"workspaceId": w}),
    "cursor with a list position": ("CURSOR_POSITION", lambda w: {"workspaceId": w, "position": [1, 2]}),
    "cursor with a position nested too deep": (
        "CURSOR_POSITION",
        lambda w: {"workspaceId": w, "position": {"a": {"b": {"c": {"d": {"e": 1}}}}}},
    ),
    "cursor with a position key that is not a name": (
        "CURSOR_POSITION",
        lambda w: {"workspaceId": w, "position": {"sel": {"<b>x</b>": 1}}},
    ),
    "data that is not an object": ("SYNC_REQUEST", lambda w: "everything"),
    "authenticate without token": ("AUTHENTICATE", lambda w: {}),
    "authenticate with a numeric token": ("AUTHENTICATE", lambda w: {"token": 12345}),
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_a_missing_or_mistyped_field_is_an_invalid_message_answering_the_frames_id(
    ws: WsClient, case: str
) -> None:
    frame_type, data = BAD_FIELDS[case]
    ws.send(frame_type, data("some-workspace"), id="bad-1")
    error = error_for(ws)
    assert error["data"]["code"] == "INVALID_MESSAGE"
    assert error["replyTo"] == "bad-1"
    assert error["data"]["replyTo"] == "bad-1"
    assert_still_open(ws)


def test_the_invalid_message_error_names_the_failing_field(ws: WsClient) -> None:
    ws.send("SYNC_REQUEST", {"sinceSeq": 0}, id="x")
    assert "workspaceId" in error_for(ws)["data"]["message"]


# --- UNKNOWN_TYPE -------------------------------------------------------------------------------


@pytest.mark.parametrize("frame_type", ["SUBSCRIBE", "ping", "PONG", "TASK_CREATED", "CONNECT", "ERROR"])
def test_a_type_that_clients_do_not_send_is_unknown(ws: WsClient, frame_type: str) -> None:
    # Server-only types count as unknown too: a client cannot inject events or answers.
    ws.send(frame_type, {}, id="u1")
    error = error_for(ws)
    assert (error["data"]["code"], error["replyTo"]) == ("UNKNOWN_TYPE", "u1")
    assert_still_open(ws)


def test_an_unknown_type_is_unknown_before_authentication_too(node: RunningServer) -> None:
    with WsClient(node.ws_url) as anonymous:
        anonymous.recv_type("CONNECT")
        anonymous.send("HELLO", {}, id="h")
        assert error_for(anonymous)["data"]["code"] == "UNKNOWN_TYPE"
        assert_still_open(anonymous)


# --- FORBIDDEN ----------------------------------------------------------------------------------

TO_A_WORKSPACE: dict[str, Callable[[str], dict[str, Any]]] = {
    "USER_TYPING": lambda ws_id: {"workspaceId": ws_id, "taskId": "t", "isTyping": True},
    "USER_PRESENCE": lambda ws_id: {"workspaceId": ws_id, "status": "away"},
    "CURSOR_POSITION": lambda ws_id: {"workspaceId": ws_id, "position": {"x": 1, "y": 2}},
    "SYNC_REQUEST": lambda ws_id: {"workspaceId": ws_id, "sinceSeq": 0},
}


@pytest.mark.parametrize("frame_type", list(TO_A_WORKSPACE))
def test_messages_to_a_workspace_the_connection_has_not_joined_are_forbidden(
    node: RunningServer, api: Api, frame_type: str
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    mine_not_joined = alice.create_workspace("Alice's, left out of this connection")
    joined = alice.create_workspace("Joined")
    bobs = bob.create_workspace("Bob's")
    bob.create_task(bobs["id"], "secret")
    nonexistent = "00000000-0000-4000-8000-000000000000"
    with WsClient(node.ws_url) as ws, WsClient(node.ws_url) as bobs_ws:
        ws.authenticate(alice.token, workspaceIds=[joined["id"]])
        bobs_ws.authenticate(bob.token)
        bobs_ws.recv_type("PRESENCE_STATE")
        for n, target in enumerate([mine_not_joined["id"], bobs["id"], nonexistent]):
            ws.send(frame_type, TO_A_WORKSPACE[frame_type](target), id=f"f{n}")
            error = error_for(ws)
            assert (error["data"]["code"], error["replyTo"]) == ("FORBIDDEN", f"f{n}"), target
        assert [frame for frame in ws.received if frame["type"] == "SYNC_RESPONSE"] == []
        # Bob's room heard nothing from Alice
        assert [frame for frame in bobs_ws.quiet() if frame["type"] != "USER_PRESENCE"] == []
        assert_still_open(ws)


# --- FEATURE_DISABLED ---------------------------------------------------------------------------

FEATURES = {
    "ws_enable_typing": "USER_TYPING",
    "ws_enable_presence": "USER_PRESENCE",
    "ws_enable_cursors": "CURSOR_POSITION",
}


@pytest.mark.parametrize("setting", list(FEATURES))
def test_a_switched_off_feature_answers_feature_disabled_and_only_for_its_type(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api], setting: str
) -> None:
    private = node_factory(**{setting: False})
    alice = api_factory(private).register("Alice")
    workspace = alice.create_workspace()
    task_id = alice.create_task(workspace["id"])["id"]
    with WsClient(private.ws_url) as ws:
        ws.authenticate(alice.token)
        if setting != "ws_enable_presence":
            ws.recv_type("PRESENCE_STATE")
        for frame_type, data in TO_A_WORKSPACE.items():
            payload = data(workspace["id"])
            if "taskId" in payload:  # a task of the workspace: the frame is valid but for its feature
                payload["taskId"] = task_id
            ws.send(frame_type, payload, id=frame_type)
        ws.send("PING", id="end")  # answered last: every answer before it has arrived by then
        answers: dict[str, dict[str, Any]] = {}
        while "end" not in answers:
            frame = ws.recv()
            if "replyTo" in frame:
                answers[frame["replyTo"]] = frame
        disabled = FEATURES[setting]
        assert answers[disabled]["type"] == "ERROR"
        assert answers[disabled]["data"]["code"] == "FEATURE_DISABLED"
        assert not any(
            frame["type"] == "ERROR" for reply_to, frame in answers.items() if reply_to != disabled
        ), answers
        assert answers["SYNC_REQUEST"]["type"] == "SYNC_RESPONSE"
        assert answers["end"]["type"] == "PONG"
        if setting == "ws_enable_presence":  # no presence at all, not even the server's own
            assert not [f for f in ws.received if f["type"] in {"PRESENCE_STATE", "USER_PRESENCE"}]


def test_invalid_message_and_frame_ids_travel_back_verbatim(ws: WsClient) -> None:
    odd_id = "req:42/ü"
    ws.send_raw(json.dumps({"type": "SYNC_REQUEST", "data": {}, "id": odd_id}))
    assert error_for(ws)["replyTo"] == odd_id
