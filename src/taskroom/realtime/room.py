"""One workspace's room on this node: its live connections, those catching up, and its order."""

from __future__ import annotations

import asyncio
from collections import deque

from .codec import BrokerMessage
from .connection import Connection
from .protocol import CloseCode
from .sequencer import RoomSequencer


class Backlog:
    """Live events held for one connection while it replays the log.

    Bounded like the connection's outbound buffer: a connection that cannot keep up with its
    own replay is closed 1013 and resumes from where it got to.
    """

    __slots__ = ("arrived", "closed", "connection", "events", "size")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.events: deque[tuple[int, str]] = deque()
        self.size = 0
        self.closed = False  # ends with the event that removed the connection: hold no more
        self.arrived = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self.arrived.set()

    def hold(self, seq: int, frame: str) -> None:
        if self.closed:
            return
        self.events.append((seq, frame))
        self.arrived.set()
        self.size += len(frame)
        if self.size > self.connection.limit:
            self.events.clear()
            self.size = 0
            self.connection.abort(CloseCode.TRY_AGAIN_LATER, "slow consumer: resume from your last seq")

    def next(self) -> tuple[int, str]:
        seq, frame = self.events.popleft()
        self.size -= len(frame)
        return seq, frame


class Room:
    def __init__(self, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self.sequencer: RoomSequencer[BrokerMessage] = RoomSequencer()
        self.live: dict[str, Connection] = {}
        # Connections replaying the log: live events are kept here, by seq, until the replay ends.
        self.catching_up: dict[str, Backlog] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reserved = 0  # joins in progress; the room is not dropped under them
        # Users this room has seen removed (and not added back): a join that raced the removal
        # is refused instead of receiving what follows.
        self.removed: set[str] = set()
        self.gap_filler: asyncio.Task[None] | None = None

    @property
    def seq(self) -> int:
        assert self.sequencer.last_seq is not None
        return self.sequencer.last_seq

    @property
    def empty(self) -> bool:
        return not self.live and not self.catching_up and self.reserved == 0

    def has(self, connection: Connection) -> bool:
        return connection.id in self.live or connection.id in self.catching_up

    def fan_out(self, seq: int | None, frame: str, skip: str | None = None) -> int:
        """Queue the frame on every live connection; logged events are also kept for those
        catching up. Returns the number of connections written to."""
        sent = 0
        for connection_id, connection in self.live.items():
            if connection_id != skip:
                connection.send(frame)
                sent += 1
        if seq is not None and self.catching_up:
            for backlog in list(self.catching_up.values()):
                backlog.hold(seq, frame)
        return sent

    def remove(self, connection: Connection) -> bool:
        removed = self.live.pop(connection.id, None) is not None
        return self.catching_up.pop(connection.id, None) is not None or removed
