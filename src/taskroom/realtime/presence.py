"""Who is in a workspace: one entry per connection ("metas", as Phoenix calls them), aggregated per user.

A user's status over all their connections is the most available one (online > busy > away),
and their lastSeen the latest of any connection; a user with no connection left is offline.
The memory implementation serves one node; a shared one (Redis) keeps the same interface and
expires the entries of a node that stops heart-beating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

STATUS_RANK = {"online": 3, "busy": 2, "away": 1}
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class PresenceMeta:
    connection_id: str
    user_id: str
    status: str
    last_seen: str  # wire timestamp


@dataclass(frozen=True, slots=True)
class UserPresence:
    user_id: str
    status: str
    last_seen: str

    def wire(self) -> dict[str, str]:
        return {"userId": self.user_id, "status": self.status, "lastSeen": self.last_seen}


class Presence(Protocol):
    async def track(self, workspace_id: str, meta: PresenceMeta) -> tuple[UserPresence | None, UserPresence]:
        """Add or replace a connection's entry. Returns the user's presence before and after."""
        ...

    async def untrack(
        self, workspace_id: str, connection_id: str, now: str
    ) -> tuple[UserPresence, UserPresence] | None:
        """Drop a connection's entry; (before, after) for its user, None if it was not tracked."""
        ...

    async def users(self, workspace_id: str) -> list[UserPresence]: ...

    def entries(self) -> int:
        """Connections tracked in some workspace, all workspaces together (a metric)."""


class _UserEntries:
    """One user's connections in one workspace, with their aggregate kept up to date.

    A user may hold many connections in a room (tabs, devices, a bot's pool): each change costs
    O(1), not a scan of the room, except dropping the connection seen last (a scan of the user's).
    """

    __slots__ = ("counts", "last_seen", "metas")

    def __init__(self) -> None:
        self.metas: dict[str, PresenceMeta] = {}
        self.counts: dict[str, int] = {}
        self.last_seen = ""

    def presence(self, user_id: str, offline_since: str) -> UserPresence:
        if not self.metas:
            return UserPresence(user_id, OFFLINE, offline_since)
        status = max((s for s, n in self.counts.items() if n), key=lambda s: STATUS_RANK.get(s, 0))
        return UserPresence(user_id, status, self.last_seen)

    def put(self, meta: PresenceMeta) -> None:
        old = self.metas.get(meta.connection_id)
        if old is not None:
            self.counts[old.status] -= 1
        self.metas[meta.connection_id] = meta
        self.counts[meta.status] = self.counts.get(meta.status, 0) + 1
        if old is not None and old.last_seen == self.last_seen:
            self.last_seen = max(m.last_seen for m in self.metas.values())
        else:
            self.last_seen = max(self.last_seen, meta.last_seen)

    def drop(self, connection_id: str) -> None:
        old = self.metas.pop(connection_id)
        self.counts[old.status] -= 1
        if old.last_seen == self.last_seen:
            self.last_seen = max((m.last_seen for m in self.metas.values()), default="")


class MemoryPresence:
    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, _UserEntries]] = {}  # workspace -> user -> entries
        self._owners: dict[tuple[str, str], str] = {}  # (workspace, connection) -> user

    async def track(self, workspace_id: str, meta: PresenceMeta) -> tuple[UserPresence | None, UserPresence]:
        users = self._rooms.setdefault(workspace_id, {})
        entries = users.get(meta.user_id)
        if entries is None:
            entries = users[meta.user_id] = _UserEntries()
        before = entries.presence(meta.user_id, meta.last_seen) if entries.metas else None
        entries.put(meta)
        self._owners[(workspace_id, meta.connection_id)] = meta.user_id
        return before, entries.presence(meta.user_id, meta.last_seen)

    async def untrack(
        self, workspace_id: str, connection_id: str, now: str
    ) -> tuple[UserPresence, UserPresence] | None:
        user_id = self._owners.pop((workspace_id, connection_id), None)
        if user_id is None:
            return None
        users = self._rooms[workspace_id]
        entries = users[user_id]
        before = entries.presence(user_id, now)
        entries.drop(connection_id)
        after = entries.presence(user_id, now)
        if not entries.metas:
            del users[user_id]
            if not users:
                del self._rooms[workspace_id]
        return before, after

    def entries(self) -> int:
        return len(self._owners)

    async def users(self, workspace_id: str) -> list[UserPresence]:
        users = self._rooms.get(workspace_id, {})
        return [users[user_id].presence(user_id, "") for user_id in sorted(users)]
