"""Real connections over a recording socket, for driving rooms and connections without a server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from taskroom.events import LogEvent
from taskroom.realtime.connection import Connection, Flusher
from taskroom.wire import MessageType, encode_server_frame


class RecordingLink:
    """The socket end of a connection: keeps what was written and the close it was asked for."""

    def __init__(self, unsent: int = 0, write_seconds: float = 0.0) -> None:
        self.writes: list[bytes] = []
        self.closed_with: int | None = None
        self.unsent = unsent  # what the "kernel" has not taken yet
        self.write_seconds = write_seconds  # how long one write keeps the loop busy

    def writer(self) -> tuple[Callable[[bytes], None], Callable[[], int]]:
        def write(data: bytes) -> None:
            if self.write_seconds:
                time.sleep(self.write_seconds)
            self.writes.append(data)

        return write, lambda: self.unsent

    def send_close(self, code: int, reason: str) -> None:
        self.closed_with = code

    async def wait_writable(self) -> None:
        return None


class ManualFlusher(Flusher):
    """Flushes when the test says so, instead of at the end of a loop turn."""

    def mark(self, connection: Connection) -> None:
        self._dirty.append(connection)


def parse_frames(data: bytes) -> list[dict[str, Any]]:
    """Split unmasked server text frames and decode their JSON."""
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(data):
        assert data[i] == 0x81, "an unfragmented text frame"
        size = data[i + 1]
        i += 2
        if size == 126:
            size = int.from_bytes(data[i : i + 2], "big")
            i += 2
        elif size == 127:
            size = int.from_bytes(data[i : i + 8], "big")
            i += 8
        out.append(json.loads(data[i : i + size]))
        i += size
    return out


class Peer:
    """One connection and what it has received so far."""

    def __init__(self, flusher: ManualFlusher, user_id: str, limit: int = 1 << 20, name: str = "") -> None:
        self.link = RecordingLink()
        self.flusher = flusher
        self.connection = Connection(self.link, name or f"c-{user_id}-{id(self)}", limit, flusher)
        self.connection.user_id = user_id

    def received(self) -> list[dict[str, Any]]:
        """Every frame written so far (flushing what is pending), oldest first."""
        self.flusher.flush()
        return parse_frames(b"".join(self.link.writes))

    def seqs(self) -> list[int]:
        return [frame["seq"] for frame in self.received() if "seq" in frame]


def event(
    workspace_id: str, seq: int, type: MessageType = MessageType.TASK_CREATED, subject: str | None = None
) -> LogEvent:
    data: dict[str, Any] = {"workspaceId": workspace_id}
    if subject is not None:
        data["userId"] = subject
    text = encode_server_frame(type, data, seq=seq, event_id=f"e{seq}")
    return LogEvent(workspace_id, seq, f"e{seq}", type, text, subject)
