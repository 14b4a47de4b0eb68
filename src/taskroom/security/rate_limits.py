"""Sliding-window limits at the HTTP edge: registrations per client address, member adds per user.

They protect CPU (argon2 costs 64 MiB and tens of milliseconds per hash) and slow guessing and
enumeration down. The counts live in a `LimitStore`: this node's memory, or Redis, where every
node of the service counts together (a client gets the allowance once, whichever node it uses).
"""

from __future__ import annotations

import uuid

from ..settings import Settings
from .limit_store import LimitStore, Window


class RequestLimits:
    """The limits enforced at the HTTP edge, one set per app: by client address or acting user."""

    def __init__(self, settings: Settings, store: LimitStore) -> None:
        self._store = store
        self._registrations = (settings.register_max_per_client, float(settings.register_window_seconds))
        self._member_adds = (settings.member_add_max_per_minute, 60.0)

    async def registration(self, address: str) -> float | None:
        """Count a registration attempt from `address`; the seconds to wait when it is refused."""
        limit, seconds = self._registrations
        return await self._store.hit([Window(f"register:{address}", limit, seconds)], uuid.uuid4().hex)

    async def member_add(self, user_id: str) -> float | None:
        """Count a member addition by `user_id`; the seconds to wait when it is refused."""
        limit, seconds = self._member_adds
        return await self._store.hit([Window(f"member-add:{user_id}", limit, seconds)], uuid.uuid4().hex)
