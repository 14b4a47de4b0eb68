"""A WebSocket test client on the real `websockets` library: send frames, wait for typed ones."""

from __future__ import annotations

import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


class WsClient:
    def __init__(self, url: str, **options: Any) -> None:
        self._opened = connect(url, open_timeout=10, max_size=None, **options)
        self.conn: ClientConnection = self._opened.__enter__()
        self.received: list[dict[str, Any]] = []

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def send(self, type: str, data: Any = None, id: str | None = None, **envelope: Any) -> None:
        frame: dict[str, Any] = {"type": type, "data": {} if data is None else data, **envelope}
        if id is not None:
            frame["id"] = id
        self.conn.send(json.dumps(frame))

    def send_raw(self, raw: str | bytes) -> None:
        self.conn.send(raw)

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame = json.loads(self.conn.recv(timeout=timeout))
        assert isinstance(frame, dict)
        self.received.append(frame)
        return frame

    def recv_type(self, *types: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame of one of `types`, skipping (and keeping in `received`) any other."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(timeout=max(0.01, deadline - time.monotonic()))
            if frame["type"] in types:
                return frame

    def recv_events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next `count` logged events (frames with a seq), skipping ephemeral ones."""
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(events) < count:
            frame = self.recv(timeout=max(0.01, deadline - time.monotonic()))
            if "seq" in frame:
                events.append(frame)
        return events

    def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Everything that arrives within `seconds` (for asserting that nothing more comes)."""
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frames.append(self.recv(timeout=left))
            except TimeoutError:
                break
        return frames

    def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; returns its close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.recv(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
        raise AssertionError("the server did not close the connection")

    def authenticate(self, token: str, **data: Any) -> dict[str, Any]:
        """Read CONNECT, authenticate, return the AUTHENTICATE answer's data."""
        connect_frame = self.recv_type("CONNECT")
        assert connect_frame["data"]["connectionId"]
        self.send("AUTHENTICATE", {"token": token, **data}, id="auth")
        reply = self.recv_type("AUTHENTICATE", "ERROR")
        assert reply["type"] == "AUTHENTICATE", reply
        return dict(reply["data"])
