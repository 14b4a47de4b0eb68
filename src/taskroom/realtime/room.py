"""One workspace's room on this node: the state machine that owns who receives what, in what order.

A connection is in a room in one of two states:

- live: it receives each event as the room delivers it;
- catching up: it is being sent the log from its resume point; the room holds live events for it
  in a bounded `Backlog` until the replay reaches them, then it turns live.

Beside its connections the room keeps the users it has seen removed (and not added back), its
position in the log (`seq`, through its `RoomSequencer`) and how many joins are in progress
(`reserved`, so it is not dropped under them).

Every change goes through a transition: `join`, `leave`, `deliver`, `broadcast`, `catch_up_step`.
They do no I/O and never wait: frames are appended to connections' outbound buffers (which a
flusher writes later, like websockets' sans-I/O `Protocol` whose caller sends the bytes), and
what the caller must do next is returned (`Effects`: whom to welcome, who left). Races such as
a join against a concurrent removal are therefore unit tests of this class.

A connection's `rooms` set names the rooms it is in, in either state; only these transitions
change it. Whether it is a member now (may send to the workspace, receives its events) is
`is_member`: a connection catching up after its removal is still in the room until its backlog,
which ends with the removal, has been sent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from ..events import LogEvent
from ..wire import MessageType
from .connection import Connection
from .frames import text_frame
from .protocol import CloseCode
from .sequencer import RoomSequencer


class MemberConnections(Protocol):
    """This node's connections of one user (a removal or re-addition acts on them)."""

    def connections_of(self, user_id: str) -> list[Connection]: ...


@dataclass(slots=True)
class Effects:
    """What the caller does after a transition: welcome those who joined, tidy after those who left."""

    joined: list[Connection] = field(default_factory=list)
    left: list[Connection] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.joined or self.left)


class Step(Enum):
    """What a connection catching up does next (see `Room.catch_up_step`)."""

    SEND = "send"  # send the frame returned with it, then ask again
    WAIT = "wait"  # nothing held yet: wait for the backlog's `arrived`, then ask again
    LIVE = "live"  # it has turned live
    LEFT = "left"  # its catch-up ended with its removal: it is out of the room
    STOPPED = "stopped"  # it is no longer catching up here (it left, or was closed, meanwhile)


class Backlog:
    """Live events held for one connection while it replays the log.

    Bounded like the connection's outbound buffer: a connection that cannot keep up with its
    own replay is closed 1013 and resumes from where it got to. Paused between the user's
    removal and a re-addition: what happens in the workspace meanwhile is not theirs to see.
    """

    __slots__ = ("arrived", "connection", "events", "paused", "size")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.events: deque[tuple[int, bytes]] = deque()
        self.size = 0
        self.paused = False
        self.arrived = asyncio.Event()

    def hold(self, seq: int, frame: bytes) -> None:
        if self.paused or self.connection.closing:
            return
        self.events.append((seq, frame))
        self.size += len(frame)
        self.arrived.set()
        if self.size > self.connection.limit:
            self.events.clear()
            self.size = 0
            self.connection.abort(CloseCode.TRY_AGAIN_LATER, "slow consumer: resume from your last seq")

    def pause(self) -> None:
        self.paused = True
        self.arrived.set()

    def next(self) -> tuple[int, bytes]:
        seq, frame = self.events.popleft()
        self.size -= len(frame)
        return seq, frame


class Room:
    def __init__(self, workspace_id: str, members: MemberConnections) -> None:
        """`members`: the users' connections on this node (for membership events)."""
        self.workspace_id = workspace_id
        # Its start mark: the rooms positioned in the log on this node when it was (see `joins.py`).
        self.positioned_at = 0
        self.sequencer: RoomSequencer[LogEvent] = RoomSequencer()
        self.live: dict[str, Connection] = {}
        self.catching_up: dict[str, Backlog] = {}
        self.removed: set[str] = set()
        self.reserved = 0
        self._members = members

    @property
    def seq(self) -> int:
        assert self.sequencer.last_seq is not None
        return self.sequencer.last_seq

    @property
    def empty(self) -> bool:
        return not self.live and not self.catching_up and self.reserved == 0

    def has(self, connection: Connection) -> bool:
        """In the room, in either state."""
        return connection.id in self.live or connection.id in self.catching_up

    def is_member(self, connection: Connection) -> bool:
        """In the room and not on its way out after a removal."""
        if connection.id in self.live:
            return True
        backlog = self.catching_up.get(connection.id)
        return backlog is not None and not backlog.paused

    # --- joining and leaving --------------------------------------------------------------------

    def join(self, connection: Connection, after: int | None) -> int | None:
        """Take a connection in; returns the room's seq at that moment, or None when refused.

        `after=None` joins live. Otherwise the connection catches up: the caller sends it the log
        after `after` up to the returned seq, then releases the backlog with `catch_up_step`.
        Refused: a connection already in the room, or whose user the room has seen removed (a
        join that raced the removal).
        """
        if self.has(connection) or connection.user_id in self.removed:
            return None
        if after is None:
            self.live[connection.id] = connection
        else:
            self.catching_up[connection.id] = Backlog(connection)
        connection.rooms.add(self.workspace_id)
        return self.seq

    def leave(self, connection: Connection) -> bool:
        """Take a connection out, whatever its state; True if it was in."""
        connection.rooms.discard(self.workspace_id)
        was_live = self.live.pop(connection.id, None) is not None
        return self.catching_up.pop(connection.id, None) is not None or was_live

    # --- events ---------------------------------------------------------------------------------

    def deliver(self, seq: int, event: LogEvent) -> Effects:
        """One logged event, in seq order: to every live connection, held for those catching up;
        then its effect on membership, at its place in the order (the next event already sees
        the room as it is after this one). The frame is built here, once for every recipient."""
        frame = text_frame(event.envelope.encode())
        for connection in self.live.values():
            connection.send(frame)
        if self.catching_up:
            for backlog in self.catching_up.values():
                backlog.hold(seq, frame)
        if event.type == MessageType.WORKSPACE_MEMBER_ADDED and event.subject_user_id:
            return self._member_added(seq, event.subject_user_id, frame)
        if event.type == MessageType.WORKSPACE_MEMBER_REMOVED and event.subject_user_id:
            self.removed.add(event.subject_user_id)
            return self._remove(list(self._members.connections_of(event.subject_user_id)))
        if event.type == MessageType.WORKSPACE_DELETED:
            everyone = [*self.live.values(), *(b.connection for b in self.catching_up.values())]
            return self._remove(everyone)
        return Effects()

    def broadcast(self, frame: bytes, skip: str | None = None) -> int:
        """An ephemeral frame (presence, typing, cursor) to the live connections but `skip`."""
        sent = 0
        for connection_id, connection in self.live.items():
            if connection_id != skip:
                connection.send(frame)
                sent += 1
        return sent

    def _member_added(self, seq: int, user_id: str, frame: bytes) -> Effects:
        self.removed.discard(user_id)
        effects = Effects()
        for connection in self._members.connections_of(user_id):
            backlog = self.catching_up.get(connection.id)
            if backlog is not None and backlog.paused:
                # Removed and added back while still catching up: it goes on from this event.
                backlog.paused = False
                backlog.hold(seq, frame)
                effects.joined.append(connection)
            elif not self.has(connection):
                connection.send(frame)
                self.live[connection.id] = connection
                connection.rooms.add(self.workspace_id)
                effects.joined.append(connection)
        return effects

    def _remove(self, connections: list[Connection]) -> Effects:
        """Live connections leave now; those catching up after their backlog, which already ends
        with the event that removed them."""
        effects = Effects()
        for connection in connections:
            backlog = self.catching_up.get(connection.id)
            if backlog is not None:
                backlog.pause()
            elif self.live.pop(connection.id, None) is not None:
                connection.rooms.discard(self.workspace_id)
                effects.left.append(connection)
        return effects

    # --- catching up ----------------------------------------------------------------------------

    def catch_up_step(self, connection: Connection, replayed_to: int) -> tuple[Step, bytes | None]:
        """The next thing to do for a connection whose replay reached `replayed_to`.

        Held events up to `replayed_to` the client already has and are skipped. The connection
        turns live only once its backlog is empty and the room itself has reached `replayed_to`
        (a snapshot or a resume point can be ahead of this node's room), within this call, so
        nothing is skipped or sent twice. A backlog paused by the user's removal ends with that
        event: the connection is then out of the room (`LEFT`).
        """
        backlog = self.catching_up.get(connection.id)
        if backlog is None:
            return Step.STOPPED, None
        while backlog.events:
            seq, frame = backlog.next()
            if seq > replayed_to:
                return Step.SEND, frame
        if backlog.paused:
            del self.catching_up[connection.id]
            connection.rooms.discard(self.workspace_id)
            return Step.LEFT, None
        if self.seq >= replayed_to:
            del self.catching_up[connection.id]
            self.live[connection.id] = connection
            return Step.LIVE, None
        backlog.arrived.clear()
        return Step.WAIT, None
