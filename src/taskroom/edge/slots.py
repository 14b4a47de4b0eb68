"""Connection slots: at most so many connections on this node, and so many of one user in all.

The node's own count is a plain counter (a check is O(1), as the real-time registry's length).
A user's connections are slots of a `LimitStore` key: with Redis, every node of the service
counts them together, and the slots of a node that dies stop counting when its heartbeat lapses.
Each kind of connection has its own key prefix (documents: `doc-connections:`), so document connections and `/api/v1/ws`
connections do not take each other's slots.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from ..security.limit_store import LimitStore


class Crowding(StrEnum):
    NODE = "too many {kind} connections on this node"
    USER = "too many {kind} connections of this user"


class Crowded(Exception):
    """Past the node's or the user's limit; the connection is closed 1013 and retried later."""

    def __init__(self, crowding: Crowding, kind: str) -> None:
        super().__init__(crowding.value.format(kind=kind))
        self.crowding = crowding


@dataclass(frozen=True, slots=True)
class Slot:
    user_id: str
    slot_id: str


class ConnectionSlots:
    def __init__(self, store: LimitStore, key_prefix: str, kind: str, per_node: int, per_user: int) -> None:
        self._store = store
        self._key_prefix = key_prefix  # "doc-connections": kept, so nodes of two versions count together
        self._kind = kind  # in the refusal: "document"
        self._per_node = per_node
        self._per_user = per_user
        self._held = 0  # slots held on this node, opening ones included

    @property
    def held(self) -> int:
        return self._held

    def key(self, user_id: str) -> str:
        return f"{self._key_prefix}:{user_id}"

    async def open(self, user_id: str) -> Slot:
        """One slot for a connection of `user_id`; raises `Crowded`. Close it with `close`."""
        if self._held >= self._per_node:
            raise Crowded(Crowding.NODE, self._kind)
        self._held += 1  # counted from now on, so that concurrent openings see it
        slot = Slot(user_id, uuid.uuid4().hex)
        try:
            opened = await self._store.open_slot(self.key(user_id), slot.slot_id, self._per_user)
        except BaseException:
            self._held -= 1
            raise
        if not opened:
            self._held -= 1
            raise Crowded(Crowding.USER, self._kind)
        return slot

    async def close(self, slot: Slot) -> None:
        self._held -= 1
        await self._store.close_slot(self.key(slot.user_id), slot.slot_id)
