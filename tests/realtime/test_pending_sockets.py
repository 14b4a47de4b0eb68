"""Unauthenticated WebSockets are capped per client address (WS_MAX_PENDING_PER_ADDRESS)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.support.api import Api
from tests.support.databases import sqlite_url
from tests.support.servers import RunningServer, running_server
from tests.support.waiting import eventually
from tests.support.ws import WsClient

CAP = 4


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(sqlite_url(tmp_path), ws_max_pending_per_address=CAP) as server:
        yield server


def _pending(node: RunningServer) -> int:
    return int(httpx.get(f"{node.api}/ws/metrics").json()["runtime"]["pendingConnections"])


def _refused(node: RunningServer, **options: object) -> int:
    with pytest.raises(InvalidStatus) as refused:
        WsClient(node.ws_url, **options)
    response = refused.value.response
    assert response.headers["Retry-After"] == "1"
    return response.status_code


def test_idle_sockets_past_the_cap_are_refused_while_others_connect_and_authenticate(
    node: RunningServer,
) -> None:
    api = Api(node.api)
    with contextlib.ExitStack() as stack:
        # Sockets from one client (behind the local proxy, which names it in X-Forwarded-For).
        attacker = {"additional_headers": {"X-Forwarded-For": "203.0.113.9"}}
        idle = [stack.enter_context(WsClient(node.ws_url, **attacker)) for _ in range(CAP)]
        for socket in idle:
            assert socket.recv_type("CONNECT")
        assert _pending(node) == CAP
        for _ in range(3):
            assert _refused(node, **attacker) == 429

        honest = api.register("Honest")
        with WsClient(node.ws_url, additional_headers={"X-Forwarded-For": "198.51.100.4"}) as ws:
            assert ws.authenticate(honest.token)["userId"] == honest.id
        # The node's own address is another address too.
        with WsClient(node.ws_url) as ws:
            assert ws.authenticate(honest.token)["userId"] == honest.id

        # An idle socket that goes frees its place for the next one from that address.
        idle.pop().close()
        eventually(lambda: _pending(node), lambda count: count == CAP - 1)
        assert stack.enter_context(WsClient(node.ws_url, **attacker)).recv_type("CONNECT")
        assert _refused(node, **attacker) == 429
    eventually(lambda: _pending(node), lambda count: count == 0)
    api.close()


def test_authenticated_sockets_do_not_count_against_the_cap(node: RunningServer) -> None:
    api = Api(node.api)
    user = api.register()
    with contextlib.ExitStack() as stack:
        # Three times the cap, each authenticated right after connecting (as a busy client does).
        for _ in range(CAP * 3):
            ws = stack.enter_context(WsClient(node.ws_url))
            ws.authenticate(user.token)
        assert _pending(node) == 0
        # The whole allowance of unauthenticated ones is still there.
        pending = [stack.enter_context(WsClient(node.ws_url)) for _ in range(CAP)]
        assert _refused(node) == 429
        # One of them authenticates: it stops counting, and another may connect.
        pending[0].authenticate(user.token)
        assert _pending(node) == CAP - 1
        stack.enter_context(WsClient(node.ws_url)).recv_type("CONNECT")
        assert _refused(node) == 429
    api.close()


def test_a_failed_authentication_keeps_the_socket_counted_until_it_closes(node: RunningServer) -> None:
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": "not-a-token"}, id="a")
        assert ws.recv_type("ERROR")["data"]["code"] == "UNAUTHORIZED"
        ws.wait_closed()
    eventually(lambda: _pending(node), lambda count: count == 0)
