"""Frames the WebSocket fuzzer (test_ws_fuzz.py) found mishandled, pinned down one by one."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed

from tests.realtime.clients import joined
from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.support.ws import WsClient

NodeFactory = Callable[..., RunningServer]
ApiFactory = Callable[[RunningServer], Api]


def close_code_after_sending(ws: WsClient, frames: list[str]) -> int | None:
    """Send `frames` back to back (the server may close midway), then the code of its close frame."""
    with contextlib.suppress(ConnectionClosed, OSError):
        for frame in frames:
            ws.send_raw(frame)
    with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
        while True:
            ws.recv(timeout=10)
    # A failed write can come before the client's reader has taken in the close frame already sent.
    ws.conn.recv_events_thread.join(10)
    received = ws.conn.protocol.close_rcvd
    return received.code if received is not None else None


def test_a_client_that_keeps_sending_after_an_oversize_frame_still_reads_1009(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    # The node used to close the socket with the rest of the big frame unread: the kernel then
    # resets the connection, which can destroy the 1009 close frame before the client reads it.
    private = node_factory(ws_max_message_bytes=16_384)
    alice = api_factory(private).register("Alice")
    big = json.dumps({"type": "PING", "data": {"padding": "x" * 40_000}})
    follow_up = [json.dumps({"type": "PING", "id": str(n)}) for n in range(5)]
    # The reset lost the close frame in about one attempt in ten; forty attempts all see 1009.
    codes = []
    for _attempt in range(40):
        ws = joined(private, alice)
        try:
            codes.append(close_code_after_sending(ws, [big, *follow_up]))
        finally:
            ws.close()
    assert codes == [1009] * 40


@pytest.mark.parametrize(
    ("frame_type", "data"),
    [
        ("USER_TYPING", {"taskId": "a\x00b", "isTyping": True}),
        ("CURSOR_POSITION", {"taskId": "\x00", "position": {"x": 1}}),
        ("SYNC_REQUEST", {"workspaceId": "\x00", "sinceSeq": 0}),
        ("AUTHENTICATE", {"workspaceIds": ["\x00"]}),
    ],
)
def test_a_nul_character_in_an_id_is_an_invalid_message(
    node: RunningServer, api: Api, frame_type: str, data: dict[str, object]
) -> None:
    # PostgreSQL cannot compare text holding NUL: a typing indicator naming such a task was an
    # INTERNAL error there.
    alice = api.register("Alice")
    workspace = alice.create_workspace()["id"]
    with joined(node, alice) as ws:
        full = {"workspaceId": workspace, **data}
        if frame_type == "AUTHENTICATE":
            full = {"token": alice.token, **data}
        ws.send(frame_type, full, id="nul")
        error = ws.recv_type("ERROR")
        assert (error["data"]["code"], error["replyTo"]) == ("INVALID_MESSAGE", "nul")
        ws.send("PING", id="open")
        assert ws.recv_type("PONG")["replyTo"] == "open"
