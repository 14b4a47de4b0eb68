"""Who is in a workspace: one entry per connection ("metas", as Phoenix calls them), aggregated per user.

A user's status over all their connections is the most available one (online > busy > away),
and their lastSeen the latest of any connection; a user with no connection left is offline.
The memory implementation serves one node; a shared one (Redis) keeps the same interface and
expires the entries of a node that stops heart-beating.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def aggregate(user_id: str, metas: Iterable[PresenceMeta], offline_since: str) -> UserPresence:
    """The user's presence over their connections; `offline_since` when none is left."""
    metas = list(metas)
    if not metas:
        return UserPresence(user_id, OFFLINE, offline_since)
    best = max(metas, key=lambda meta: STATUS_RANK.get(meta.status, 0))
    return UserPresence(user_id, best.status, max(meta.last_seen for meta in metas))


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


class MemoryPresence:
    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, PresenceMeta]] = {}

    def _user_metas(self, workspace_id: str, user_id: str) -> list[PresenceMeta]:
        return [m for m in self._rooms.get(workspace_id, {}).values() if m.user_id == user_id]

    async def track(self, workspace_id: str, meta: PresenceMeta) -> tuple[UserPresence | None, UserPresence]:
        metas = self._user_metas(workspace_id, meta.user_id)
        before = aggregate(meta.user_id, metas, meta.last_seen) if metas else None
        self._rooms.setdefault(workspace_id, {})[meta.connection_id] = meta
        after = aggregate(meta.user_id, self._user_metas(workspace_id, meta.user_id), meta.last_seen)
        return before, after

    async def untrack(
        self, workspace_id: str, connection_id: str, now: str
    ) -> tuple[UserPresence, UserPresence] | None:
        room = self._rooms.get(workspace_id)
        if room is None or connection_id not in room:
            return None
        user_id = room[connection_id].user_id
        before = aggregate(user_id, self._user_metas(workspace_id, user_id), now)
        del room[connection_id]
        if not room:
            del self._rooms[workspace_id]
        after = aggregate(user_id, self._user_metas(workspace_id, user_id), now)
        return before, after

    async def users(self, workspace_id: str) -> list[UserPresence]:
        by_user: dict[str, list[PresenceMeta]] = {}
        for meta in self._rooms.get(workspace_id, {}).values():
            by_user.setdefault(meta.user_id, []).append(meta)
        return [aggregate(user_id, metas, "") for user_id, metas in sorted(by_user.items())]
