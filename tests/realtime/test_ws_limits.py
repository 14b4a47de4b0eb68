"""Limits of the WebSocket service (PROTOCOL §3.5): frame size, rates, connections, origins, slow readers."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.support.waiting import eventually
from tests.support.ws import WsClient

NodeFactory = Callable[..., RunningServer]
ApiFactory = Callable[[RunningServer], Api]


def ws_metrics(node: RunningServer) -> dict[str, Any]:
    response = Api(node.api)
    try:
        body = response.http.get("/ws/metrics").json()
    finally:
        response.close()
    assert isinstance(body, dict)
    return body


# --- frame size ---------------------------------------------------------------------------------


def test_a_frame_over_the_size_limit_closes_1009(node_factory: NodeFactory, api_factory: ApiFactory) -> None:
    private = node_factory(ws_max_message_bytes=1024)
    alice = api_factory(private).register("Alice")
    with WsClient(private.ws_url) as ws:
        ws.authenticate(alice.token)
        ws.send("PING", {"padding": "x" * 900}, id="fits")  # just under 1024 bytes
        assert ws.recv_type("PONG")["replyTo"] == "fits"
        ws.send("PING", {"padding": "x" * 1100}, id="too-big")
        assert ws.wait_closed() == 1009
        assert not any(frame.get("replyTo") == "too-big" for frame in ws.received)


def test_an_oversize_frame_before_authentication_closes_1009_too(node_factory: NodeFactory) -> None:
    private = node_factory(ws_max_message_bytes=1024)
    with WsClient(private.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": "x" * 2000})
        assert ws.wait_closed() == 1009


# --- rate limits --------------------------------------------------------------------------------


def test_a_connection_over_its_rate_gets_rate_limited_and_stays_open(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    private = node_factory(ws_rate_limit=5, ws_rate_limit_burst=5)
    alice = api_factory(private).register("Alice")
    with WsClient(private.ws_url) as ws:
        ws.authenticate(alice.token)  # one frame of the burst
        for n in range(6):
            ws.send("PING", id=f"p{n}")
        answers = [ws.recv_type("PONG", "ERROR") for _ in range(6)]
        limited = [frame for frame in answers if frame["type"] == "ERROR"]
        assert limited, answers
        assert {frame["data"]["code"] for frame in limited} == {"RATE_LIMITED"}
        assert len(answers) - len(limited) <= 5  # never more than the burst gets through
        # a pause refills the bucket: the connection was never closed
        ws.quiet(0.5)
        ws.send("PING", id="after-a-pause")
        assert ws.recv_type("PONG")["replyTo"] == "after-a-pause"
    assert ws_metrics(private)["rateLimited"] >= len(limited)


def test_a_flood_that_goes_on_is_closed_1008(node_factory: NodeFactory, api_factory: ApiFactory) -> None:
    private = node_factory(ws_rate_limit=5, ws_rate_limit_burst=5)
    alice = api_factory(private).register("Alice")
    with WsClient(private.ws_url) as ws:
        ws.authenticate(alice.token)
        with contextlib.suppress(ConnectionClosed):  # the server may close before the flood is over
            for n in range(40):
                ws.send("PING", id=f"p{n}")
        assert ws.wait_closed() == 1008
        assert any(
            frame["type"] == "ERROR" and frame["data"]["code"] == "RATE_LIMITED" for frame in ws.received
        )


def test_the_rate_limit_also_counts_all_connections_of_one_user(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    # A slow refill (1/s), so that the test's own pace cannot refill the buckets.
    private = node_factory(ws_rate_limit=1, ws_rate_limit_burst=5)
    rest = api_factory(private)
    alice, bob = rest.register("Alice"), rest.register("Bob")
    with (
        WsClient(private.ws_url) as first,
        WsClient(private.ws_url) as second,
        WsClient(private.ws_url) as bobs,
    ):
        for ws, user in ((first, alice), (second, alice), (bobs, bob)):
            ws.authenticate(user.token)
        for n in range(3):
            first.send("PING", id=f"first-{n}")
        assert [first.recv_type("PONG", "ERROR")["type"] for _ in range(3)] == ["PONG"] * 3
        # the second connection has its own burst left, but Alice has used most of hers
        for n in range(4):
            second.send("PING", id=f"second-{n}")
        answers = [second.recv_type("PONG", "ERROR") for _ in range(4)]
        limited = [frame["data"]["code"] for frame in answers if frame["type"] == "ERROR"]
        assert limited, answers  # 2 of the 4 without refill: Alice had 2 frames left, on any connection
        assert set(limited) == {"RATE_LIMITED"}
        # another user is not affected
        for n in range(3):
            bobs.send("PING", id=f"bob-{n}")
        assert [bobs.recv_type("PONG", "ERROR")["type"] for _ in range(3)] == ["PONG"] * 3


# --- connection limits --------------------------------------------------------------------------


def test_connections_over_the_node_limit_are_closed_1013(node_factory: NodeFactory) -> None:
    private = node_factory(ws_max_connections=2)
    with WsClient(private.ws_url) as first, WsClient(private.ws_url) as second:
        first.recv_type("CONNECT")
        second.recv_type("CONNECT")
        with WsClient(private.ws_url) as third:
            assert third.wait_closed() == 1013
            assert [frame["type"] for frame in third.received] == []  # not even CONNECT
        second.close()
        # a freed place can be taken again
        eventually(lambda: ws_metrics(private)["connections"]["current"], lambda n: n == 1)
        with WsClient(private.ws_url) as fourth:
            assert fourth.recv_type("CONNECT")["type"] == "CONNECT"


def test_a_users_connections_over_the_per_user_limit_are_closed_1013_at_authentication(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    private = node_factory(ws_max_connections_per_user=1)
    rest = api_factory(private)
    alice, bob = rest.register("Alice"), rest.register("Bob")
    with (
        WsClient(private.ws_url) as first,
        WsClient(private.ws_url) as second,
        WsClient(private.ws_url) as bobs,
    ):
        first.authenticate(alice.token)
        second.recv_type("CONNECT")  # connecting is fine; authenticating as Alice again is not
        second.send("AUTHENTICATE", {"token": alice.token}, id="auth")
        assert second.wait_closed() == 1013
        assert not any(frame["type"] == "AUTHENTICATE" for frame in second.received)
        bobs.authenticate(bob.token)  # the limit is per user
        first.send("PING", id="first-lives")
        assert first.recv_type("PONG")["replyTo"] == "first-lives"


# --- origins ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://app.example.evil", "http://app.example", None]
)
def test_an_origin_outside_the_allowed_list_is_refused_with_403_before_the_upgrade(
    node_factory: NodeFactory, origin: str | None
) -> None:
    private = node_factory(ws_allowed_origins="https://app.example, https://admin.example")
    options = {} if origin is None else {"origin": origin}
    with pytest.raises(InvalidStatus) as refused:
        WsClient(private.ws_url, **options)
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", ["https://app.example", "https://admin.example"])
def test_an_allowed_origin_is_accepted(node_factory: NodeFactory, origin: str) -> None:
    private = node_factory(ws_allowed_origins="https://app.example, https://admin.example")
    with WsClient(private.ws_url, origin=origin) as ws:
        assert ws.recv_type("CONNECT")["type"] == "CONNECT"


def test_without_an_allowed_list_any_origin_is_accepted(node: RunningServer) -> None:
    with WsClient(node.ws_url, origin="https://anywhere.example") as ws:
        assert ws.recv_type("CONNECT")["type"] == "CONNECT"


# --- slow readers -------------------------------------------------------------------------------


def test_a_client_that_stops_reading_is_closed_1013_and_resumes_without_loss(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    private = node_factory(ws_max_buffered_bytes=65536)
    alice = api_factory(private).register("Alice")
    workspace = alice.create_workspace()
    # A small receive buffer, and a client that queues one message then stops reading the socket:
    # from there on everything piles up in the kernel buffers and then in the server's outbound one.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect(("127.0.0.1", private.port))
    long_text = "x" * 20_000
    created = 0
    with WsClient(private.ws_url, sock=sock, max_queue=1) as slow:
        slow.authenticate(alice.token)
        slow.recv_type("PRESENCE_STATE")
        # However big the kernel buffers of this machine are, the server's bound is passed in the end.
        while ws_metrics(private)["dropped"] == 0:
            assert created < 2000, "the server never gave up on the slow reader"
            for _ in range(10):
                created += 1
                alice.create_task(workspace["id"], f"task {created}", description=long_text)
        assert slow.wait_closed(timeout=30) == 1013
        # The close may still flush what was written before it, so the batch that passed the bound
        # can arrive whole; what is written after the close is missed for sure.
        for _ in range(3):
            created += 1
            alice.create_task(workspace["id"], f"task {created}", description=long_text)
    seen = [frame["seq"] for frame in slow.received if "seq" in frame]
    assert seen == list(range(1, len(seen) + 1))  # in order, no gap, up to where it was cut off
    assert len(seen) < created
    with WsClient(private.ws_url) as resumed:
        auth = resumed.authenticate(alice.token, resume={workspace["id"]: seen[-1]})
        assert auth["workspaces"] == [{"id": workspace["id"], "seq": created}]
        missed = resumed.recv_events(created - len(seen), timeout=30)
        assert [event["seq"] for event in missed] == list(range(len(seen) + 1, created + 1))
        assert {event["type"] for event in missed} == {"TASK_CREATED"}
        assert [event["data"]["task"]["title"] for event in missed[-1:]] == [f"task {created}"]
        assert [frame for frame in resumed.quiet() if "seq" in frame] == []  # exactly once
    assert ws_metrics(private)["dropped"] == 1


def test_a_sync_page_bigger_than_the_outbound_bound_comes_in_parts_instead_of_closing(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    private = node_factory(ws_max_buffered_bytes=65536)
    alice = api_factory(private).register("Alice")
    workspace = alice.create_workspace()
    for n in range(8):  # about 160 kB of events, more than twice the bound
        alice.create_task(workspace["id"], f"task {n + 1}", description="x" * 20_000)
    with WsClient(private.ws_url) as ws:
        ws.authenticate(alice.token)
        seqs: list[int] = []
        pages = 0
        while True:
            ws.send("SYNC_REQUEST", {"workspaceId": workspace["id"], "sinceSeq": len(seqs)}, id=f"s{pages}")
            page = ws.recv_type("SYNC_RESPONSE", "ERROR")
            assert page["type"] == "SYNC_RESPONSE", page
            pages += 1
            assert page["data"]["latestSeq"] == 8
            assert page["data"]["events"], "every page makes progress"
            seqs += [event["seq"] for event in page["data"]["events"]]
            if not page["data"]["hasMore"]:
                break
        assert seqs == list(range(1, 9))
        assert pages > 1
        ws.send("PING", id="open")
        assert ws.recv_type("PONG")["replyTo"] == "open"
