"""Where limits are counted: sliding windows, token buckets and connection slots, by key.

One interface (`LimitStore`), two homes: this node's memory (`MemoryLimitStore`, one node, the
default) and Redis (`RedisLimitStore`, every node of a service counts together, so moving to
another node resets nothing). Both pass the same suite (tests/unit/test_limit_store_conformance.py).

The callers decide what a key means: failed logins, registrations and member additions are
sliding windows (`login_throttle.py`, `rate_limits.py`); a user's WebSocket messages are a token
bucket and their connections are slots (`realtime/session.py`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .token_bucket import TokenBucket


@dataclass(frozen=True, slots=True)
class Window:
    """At most `limit` hits on `key` within any `seconds`."""

    key: str
    limit: int
    seconds: float


class LimitStore(Protocol):
    async def hit(self, windows: Sequence[Window], hit_id: str) -> float | None:
        """Count one hit, named `hit_id`, in every window, unless one of them is at its limit:
        then count nothing and return the seconds until every one of them admits again."""
        ...

    async def take_back(self, window: Window, hit_id: str) -> None:
        """Uncount one hit (an attempt counted up front that turned out fine)."""
        ...

    async def clear(self, window: Window) -> None:
        """Forget every hit of the window's key."""
        ...

    async def take_tokens(self, key: str, rate: float, burst: float, cost: float) -> bool:
        """A token bucket per key (full at first, `rate` a second, at most `burst`): take `cost`
        tokens and return True, or take nothing and return False."""
        ...

    async def open_slot(self, key: str, slot_id: str, limit: int) -> bool:
        """Hold one of the key's `limit` slots (a connection); False when all are taken."""
        ...

    async def close_slot(self, key: str, slot_id: str) -> None: ...

    async def slots(self, key: str) -> int:
        """Slots of the key held now."""
        ...


class MemoryLimitStore:
    """The limits of one node, in its memory. Idle keys are forgotten, so memory stays bounded by
    the keys active within their window."""

    _SWEEP_SECONDS = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[float, deque[tuple[float, str]]]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._slots: dict[str, set[str]] = {}
        self._next_sweep = clock() + self._SWEEP_SECONDS

    async def hit(self, windows: Sequence[Window], hit_id: str, nodes: int = 1) -> float | None:
        """`nodes` > 1: this node stands in for that many (Redis is away) and admits only its
        share of each limit, limit // nodes (at least 1), so the service as a whole stays near
        the limit; the hits are kept against the whole limit, to be handed back to Redis."""
        now = self._clock()
        self._sweep(now)
        checked = [Window(w.key, max(1, w.limit // nodes), w.seconds) for w in windows]
        waits = [wait for window in checked if (wait := self._retry_after(window, now)) is not None]
        if waits:
            return max(waits)
        self._count(windows, hit_id, now)
        return None

    def record(self, windows: Sequence[Window], hit_id: str) -> None:
        """Count a hit that was admitted elsewhere (by Redis, which `RedisLimitStore` mirrors here
        so that a switch to this node's own counts starts from what this node already let in)."""
        now = self._clock()
        self._sweep(now)
        self._count(windows, hit_id, now)

    def recent_hits(self) -> list[tuple[str, float, list[tuple[float, str]]]]:
        """Every window's key, its seconds, and its hits within them as (age in seconds, hit id)."""
        now = self._clock()
        return [
            (key, seconds, [(now - at, hit_id) for at, hit_id in entries if at > now - seconds])
            for key, (seconds, entries) in self._windows.items()
        ]

    def _count(self, windows: Sequence[Window], hit_id: str, now: float) -> None:
        for window in windows:
            entries = self._recent(window.key, window.seconds, now)
            entries.append((now, hit_id))
            while len(entries) > window.limit:  # older hits no longer decide anything
                entries.popleft()
            self._windows[window.key] = (window.seconds, entries)

    async def take_back(self, window: Window, hit_id: str) -> None:
        held = self._windows.get(window.key)
        if held is None:
            return
        entries = held[1]
        for entry in entries:
            if entry[1] == hit_id:
                entries.remove(entry)
                break
        if not entries:
            del self._windows[window.key]

    async def clear(self, window: Window) -> None:
        self._windows.pop(window.key, None)

    async def take_tokens(self, key: str, rate: float, burst: float, cost: float) -> bool:
        self._sweep(self._clock())
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst, self._clock)
        return bucket.try_acquire(cost)

    async def open_slot(self, key: str, slot_id: str, limit: int) -> bool:
        held = self._slots.setdefault(key, set())
        if slot_id not in held and len(held) >= limit:
            return False
        held.add(slot_id)
        return True

    async def close_slot(self, key: str, slot_id: str) -> None:
        held = self._slots.get(key)
        if held is not None:
            held.discard(slot_id)
            if not held:
                del self._slots[key]

    async def slots(self, key: str) -> int:
        return len(self._slots.get(key, ()))

    def _retry_after(self, window: Window, now: float) -> float | None:
        entries = self._recent(window.key, window.seconds, now)
        if len(entries) < window.limit:
            return None
        return max(0.0, entries[-window.limit][0] + window.seconds - now)

    def _recent(self, key: str, seconds: float, now: float) -> deque[tuple[float, str]]:
        held = self._windows.get(key)
        if held is None:
            return deque()
        entries = held[1]
        while entries and entries[0][0] <= now - seconds:
            entries.popleft()
        if not entries:
            del self._windows[key]
        return entries

    def _sweep(self, now: float) -> None:
        # Now and then, drop windows whose hits all expired and buckets that are full again, so
        # the tables do not grow with every address or user ever seen.
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._SWEEP_SECONDS
        for key in [k for k, (seconds, entries) in self._windows.items() if entries[-1][0] <= now - seconds]:
            del self._windows[key]
        for key in [k for k, bucket in self._buckets.items() if bucket.available() >= bucket.burst]:
            del self._buckets[key]
