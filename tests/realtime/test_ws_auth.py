"""Authentication over the WebSocket (PROTOCOL §3.1): bad tokens, expiry, re-authentication."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.support.tokens import BAD_TOKENS, claims_for, expiring_in, signed
from tests.support.ws import WsClient


def test_a_token_crafted_with_the_right_secret_and_claims_is_accepted(node: RunningServer, api: Api) -> None:
    # The control case: each refusal below is caused by the one thing its token breaks.
    alice = api.register("Alice")
    with WsClient(node.ws_url) as ws:
        assert ws.authenticate(signed(claims_for(alice.id)))["userId"] == alice.id


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_token_gets_unauthorized_then_close_4401(node: RunningServer, api: Api, kind: str) -> None:
    alice = api.register("Alice")
    alice.create_workspace()
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": BAD_TOKENS[kind](alice.id)}, id="auth")
        error = ws.recv()
        assert error["type"] == "ERROR"
        assert error["data"]["code"] == "UNAUTHORIZED"
        assert error["replyTo"] == "auth"
        assert ws.wait_closed() == 4401


def test_an_empty_token_is_an_invalid_message_not_an_attempt(node: RunningServer) -> None:
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": ""}, id="auth")
        assert ws.recv_type("ERROR")["data"]["code"] == "INVALID_MESSAGE"
        ws.send("PING", id="open")
        assert ws.recv_type("PONG")["replyTo"] == "open"


def test_a_token_that_expires_while_connected_ends_the_connection(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    with WsClient(node.ws_url) as ws:
        ws.authenticate(expiring_in(alice.id, 2))
        expired = ws.recv_type("ERROR")
        assert expired["data"]["code"] == "TOKEN_EXPIRED"
        assert ws.wait_closed() == 4401


def test_reauthenticating_with_a_fresh_token_keeps_the_connection_and_postpones_expiry(
    node: RunningServer, api: Api
) -> None:
    alice = api.register("Alice")
    workspace = alice.create_workspace()
    with WsClient(node.ws_url) as ws:
        first = ws.authenticate(expiring_in(alice.id, 2))
        ws.recv_type("PRESENCE_STATE")
        ws.send("AUTHENTICATE", {"token": expiring_in(alice.id, 600)}, id="refresh")
        again = ws.recv_type("AUTHENTICATE", "ERROR")
        assert again["type"] == "AUTHENTICATE"
        assert again["replyTo"] == "refresh"
        assert again["data"]["userId"] == alice.id
        assert again["data"]["expiresAt"] > first["expiresAt"]
        assert again["data"]["workspaces"] == [{"id": workspace["id"], "seq": 0}]
        # past the first token's expiry: nothing is said, nothing is closed
        assert [frame for frame in ws.quiet(2.5) if frame["type"] == "ERROR"] == []
        alice.create_task(workspace["id"], "still delivered")
        assert ws.recv_events(1)[0]["type"] == "TASK_CREATED"
        ws.send("PING", id="alive")
        assert ws.recv_type("PONG")["replyTo"] == "alive"


def test_reauthenticating_as_another_user_is_refused_and_closes(node: RunningServer, api: Api) -> None:
    alice, mallory = api.register("Alice"), api.register("Mallory")
    with WsClient(node.ws_url) as ws:
        ws.authenticate(alice.token)
        ws.send("AUTHENTICATE", {"token": mallory.token}, id="switch")
        error = ws.recv_type("ERROR")
        assert error["data"]["code"] == "UNAUTHORIZED"
        assert error["replyTo"] == "switch"
        assert ws.wait_closed() == 4401


def test_reauthenticating_with_a_bad_token_is_refused_and_closes(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    with WsClient(node.ws_url) as ws:
        ws.authenticate(alice.token)
        ws.send("AUTHENTICATE", {"token": BAD_TOKENS["expired"](alice.id)}, id="refresh")
        error = ws.recv_type("ERROR")
        assert (error["data"]["code"], error["replyTo"]) == ("UNAUTHORIZED", "refresh")
        assert ws.wait_closed() == 4401
