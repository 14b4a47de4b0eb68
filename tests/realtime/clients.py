"""Small helpers for the real-time tests: joined clients, picking frames apart, waiting for the node."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from tests.support.api import ApiUser
from tests.support.servers import RunningServer
from tests.support.ws import WsClient

Frame = dict[str, Any]


def joined(node: RunningServer, user: ApiUser, *, expect: int | None = None, **auth: Any) -> WsClient:
    """A connection authenticated as `user`, with the PRESENCE_STATE of every workspace it joined read.

    `auth` goes into the AUTHENTICATE data (workspaceIds, resume). Frames that arrive meanwhile stay
    in `received`. `expect` checks the number of workspaces joined.
    """
    # Buffer whatever the test does not read: a paused reader would hold up the closing handshake.
    client = WsClient(node.ws_url, max_queue=None)
    try:
        reply = client.authenticate(user.token, **auth)
        ids = [w["id"] for w in reply["workspaces"]]
        if expect is not None:
            assert len(ids) == expect, reply
        states = {client.recv_type("PRESENCE_STATE")["data"]["workspaceId"] for _ in ids}
        assert states == set(ids)
    except BaseException:
        client.close()
        raise
    return client


def logged(frames: Iterable[Frame]) -> list[Frame]:
    """Frames that are logged events (they carry a seq)."""
    return [frame for frame in frames if "seq" in frame]


def about(frames: Iterable[Frame], workspace_id: str) -> list[Frame]:
    """Frames that concern one workspace (events, presence, typing, cursors, sync answers)."""
    return [frame for frame in frames if (frame.get("data") or {}).get("workspaceId") == workspace_id]


def of_type(frames: Iterable[Frame], *types: str) -> list[Frame]:
    return [frame for frame in frames if frame["type"] in types]


def seqs(frames: Iterable[Frame]) -> list[int]:
    return [int(frame["seq"]) for frame in frames]


def read_events_until(
    client: WsClient, workspace_id: str, last_seq: int, timeout: float = 20.0
) -> list[Frame]:
    """Logged events of one workspace, as received, until one with `last_seq` (or a later one) arrives."""
    events: list[Frame] = []
    deadline = time.monotonic() + timeout
    while not events or events[-1]["seq"] < last_seq:
        frame = client.recv(timeout=max(0.01, deadline - time.monotonic()))
        if "seq" in frame and frame["data"].get("workspaceId") == workspace_id:
            events.append(frame)
    return events


def eventually(check: Callable[[], bool], timeout: float = 5.0, every: float = 0.02) -> None:
    """Wait until `check()` holds (for state that settles after a socket closes)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(every)
