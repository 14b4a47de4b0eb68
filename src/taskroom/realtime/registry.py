"""This node's connections: by id and by user (per-user limits are the hub's `LimitStore`)."""

from __future__ import annotations

import asyncio
import contextlib

from ..metrics import NodeMetrics
from ..settings import Settings
from .connection import Connection
from .protocol import CloseCode


class ConnectionRegistry:
    def __init__(self, settings: Settings, metrics: NodeMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self.connections: dict[str, Connection] = {}
        self._by_user: dict[str, dict[str, Connection]] = {}
        self._emptied = asyncio.Event()  # set whenever the last connection goes

    def at_capacity(self) -> bool:
        return len(self.connections) >= self._settings.ws_max_connections

    def add(self, connection: Connection) -> None:
        self.connections[connection.id] = connection
        self._metrics.connection_opened()

    def bind_user(self, connection: Connection, user_id: str) -> bool:
        """Count the connection as its user's; True when it is the user's first on this node."""
        connection.user_id = user_id
        mine = self._by_user.setdefault(user_id, {})
        first = not mine
        mine[connection.id] = connection
        self._metrics.set_authenticated(1)
        return first

    def unbind_user(self, connection: Connection) -> bool:
        """No longer count it as its user's (it is leaving); True when that was the user's last."""
        user_id = connection.user_id
        if user_id is None:
            return False
        mine = self._by_user.get(user_id)
        if mine is None or mine.pop(connection.id, None) is None or mine:
            return False
        del self._by_user[user_id]
        return True

    def remove(self, connection: Connection) -> None:
        if self.connections.pop(connection.id, None) is None:
            return
        self._metrics.connection_closed(was_authenticated=connection.user_id is not None)
        if not self.connections:
            self._emptied.set()

    def connections_of(self, user_id: str) -> list[Connection]:
        return list(self._by_user.get(user_id, {}).values())

    def is_leaving(self, connection: Connection) -> bool:
        """Closing, or leaving the node (no longer among its user's connections)."""
        return connection.closing or connection.id not in self._by_user.get(connection.user_id or "", {})

    async def close_all(self, grace: float) -> None:
        """Close every connection with 1001 (going away) and wait, up to `grace` seconds, for them to go."""
        if not self.connections:
            return
        self._emptied.clear()
        for connection in list(self.connections.values()):
            connection.close(CloseCode.GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._emptied.wait(), grace)
