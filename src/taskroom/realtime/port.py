"""The real-time layer as the edges see it: one narrow, typed port for sessions, one for watchers.

A session of `WS /api/v1/ws` asks the layer for exactly what is listed in `SessionPort`, and the
document endpoint watches workspaces through `WorkspaceWatchPort`; neither reaches past them into
the layer's parts. The hub implements both (`hub.py`), wiring the routing (`routing.py`) and
the joins (`joins.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..edge.identity import Identity
from ..events import LogEvent
from ..wire import MessageType
from .connection import Connection


@dataclass(frozen=True, slots=True)
class JoinResult:
    """What a join admitted, and what is left to do for it.

    `joined` maps every workspace the connection is a member of, among those asked for, to its
    room's seq at the moment of joining. It is returned with nothing awaited since the joins, so a
    reply built from it and queued at once comes before any event of those rooms.

    The caller's obligation: await `finish()` once, right after queueing its reply. It catches
    the connection up from its resume points, announces its presence, and releases the rooms the
    join reserved (until then they cannot be dropped).
    """

    joined: dict[str, int]
    finish: Callable[[], Awaitable[None]]


class SessionPort(Protocol):
    """What one session of `WS /api/v1/ws` may ask of the real-time layer."""

    @property
    def node_id(self) -> str: ...

    def open(self, connection: Connection) -> bool:
        """Count a newly upgraded connection; False when the node is at WS_MAX_CONNECTIONS."""
        ...

    async def admit_user(self, connection: Connection, user_id: str) -> bool:
        """Hold one of the user's connection slots and bind the connection to the user; False
        when every slot is taken (nothing is bound then)."""
        ...

    def identified(self, connection: Connection, identity: Identity) -> None:
        """The connection authenticated with `identity` (again, on a re-AUTHENTICATE): it is
        closed 4401 when that session ends or that API key is deleted, on any node."""
        ...

    async def admit_frame(self, user_id: str, cost: float) -> bool:
        """Take `cost` from the user's rate bucket, shared by all their connections."""
        ...

    def membership_mark(self) -> int:
        """A mark to take just before reading a user's memberships, passed to `join` as `checked_at`."""
        ...

    async def join(
        self,
        connection: Connection,
        workspace_ids: Collection[str],
        resume: Mapping[str, int],
        *,
        checked_at: int | None = None,
    ) -> JoinResult: ...

    def joined(self, connection: Connection, workspace_id: str) -> bool:
        """Whether the connection is a member of the workspace's room now."""
        ...

    async def publish_ephemeral(
        self, workspace_id: str, message_type: MessageType, frame: str, origin_connection_id: str
    ) -> None:
        """Relay a frame that is not logged (typing, cursors) to the room, but not to its origin."""
        ...

    async def track_presence(self, connection: Connection, workspace_id: str, status: str) -> None: ...

    async def send_reset(self, connection: Connection, workspace_id: str, reply_to: str | None) -> None:
        """Tell the connection its resume point is older than the log keeps (a RESET frame)."""
        ...

    async def unregister(self, connection: Connection) -> None:
        """The connection is gone: out of its rooms, its presence and its user's slots."""
        ...

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine in the background, kept until it is done and logged if it fails."""
        ...


class WatchHandle(Protocol):
    async def close(self) -> None:
        """Stop watching (the workspace's room may then be dropped). Idempotent."""
        ...


class WorkspaceWatchPort(Protocol):
    """Watching a workspace's logged events without being a connection of its room."""

    async def watch(self, workspace_id: str, on_event: Callable[[LogEvent], None]) -> WatchHandle:
        """Call `on_event` with each logged event of the workspace, in seq order, until closed.

        The workspace's room is kept open meanwhile, so every event reaches this node."""
        ...
