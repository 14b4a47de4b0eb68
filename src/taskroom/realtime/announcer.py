"""Presence announcements: who is in a room, told to the room when a user's status changes.

Presence itself (`Presence`) is plain data, per connection; this module decides what the others
hear: a `USER_PRESENCE` only when the user's status over all their connections changes, and a
`PRESENCE_STATE` to each connection that joins. With WS_ENABLE_PRESENCE off it does nothing.
"""

from __future__ import annotations

from typing import Protocol

from ..metrics import NodeMetrics
from ..settings import Settings
from ..timeutil import format_timestamp, utcnow
from ..wire import MessageType, encode_server_frame
from .connection import Connection
from .presence import Presence, PresenceMeta, UserPresence


class RoomMembers(Protocol):
    def joined(self, connection: Connection, workspace_id: str) -> bool:
        """Whether the connection is a member of the workspace's room now."""
        ...


class EphemeralPublisher(Protocol):
    async def publish_ephemeral(
        self, workspace_id: str, message_type: MessageType, frame: str, origin: str | None
    ) -> None: ...


class PresenceAnnouncer:
    def __init__(
        self,
        settings: Settings,
        presence: Presence,
        publisher: EphemeralPublisher,
        metrics: NodeMetrics,
        rooms: RoomMembers,
    ) -> None:
        self._enabled = settings.ws_enable_presence
        self._presence = presence
        self._publisher = publisher
        self._metrics = metrics
        self._rooms = rooms
        self._statuses: dict[str, str] = {}  # connection id -> the status it chose

    async def track(self, connection: Connection, workspace_id: str, status: str | None = None) -> None:
        """Record the connection in the room's presence and tell the others if its user's status changed."""
        assert connection.user_id is not None
        status = status or self._statuses.get(connection.id, "online")
        self._statuses[connection.id] = status
        meta = PresenceMeta(connection.id, connection.user_id, status, format_timestamp(utcnow()))
        before, after = await self._presence.track(workspace_id, meta)
        await self.announce(workspace_id, before, after, connection.id)

    async def welcome(self, connection: Connection, workspace_id: str) -> bool:
        """Track a connection that just joined, then send it the room's state.

        Returns False when it left while being tracked: the caller then takes it out again, so
        that no ghost stays behind."""
        if not self._enabled or not self._rooms.joined(connection, workspace_id):
            return True
        await self.track(connection, workspace_id)
        if not self._rooms.joined(connection, workspace_id):
            return False
        users = await self._presence.users(workspace_id)
        connection.send_text(
            encode_server_frame(
                MessageType.PRESENCE_STATE, {"workspaceId": workspace_id, "users": [u.wire() for u in users]}
            )
        )
        self._metrics.message_out(MessageType.PRESENCE_STATE)
        return True

    async def left(self, connection: Connection, workspace_id: str) -> None:
        """The connection is out of the room: drop its entry, tell the others if that changes its user."""
        change = await self._presence.untrack(workspace_id, connection.id, format_timestamp(utcnow()))
        if change is not None:
            await self.announce(workspace_id, change[0], change[1], connection.id)

    def forget(self, connection: Connection) -> None:
        self._statuses.pop(connection.id, None)

    async def announce(
        self, workspace_id: str, before: UserPresence | None, after: UserPresence, origin: str | None = None
    ) -> None:
        """Tell the room (every node's connections but `origin`) when the user's status changed."""
        if before is not None and before.status == after.status:
            return
        frame = encode_server_frame(MessageType.USER_PRESENCE, {"workspaceId": workspace_id, **after.wire()})
        await self._publisher.publish_ephemeral(workspace_id, MessageType.USER_PRESENCE, frame, origin)
