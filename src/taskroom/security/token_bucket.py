"""A token bucket without I/O: the rate limits of WebSocket messages (``WS_RATE_LIMIT``, §3.5),
document frames (``DOC_RATE_LIMIT``) and the in-memory limit store.

It lives in `security/` because the limit store builds on it, and the store sits below the
real-time layers (see docs/architecture.md, "Layers"): they import it from here, never the reverse.

Hand-written on purpose: a token bucket is twenty lines, it runs on every inbound frame, and
the tests need an injected clock to be deterministic. The rate-limit libraries we could use
are built around asyncio or a storage backend, which this needs neither of.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``rate`` units per second on average, and bursts of up to ``burst`` units.

    The bucket starts full, refills continuously at ``rate`` per second from ``clock`` (seconds,
    non-decreasing; a clock that steps back refills nothing) and never holds more than ``burst``.
    Not thread-safe: one bucket belongs to one event loop.
    """

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or burst <= 0:
            raise ValueError("rate must be >= 0 and burst > 0")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now

    def try_acquire(self, cost: float = 1.0) -> bool:
        """Take ``cost`` units if available and return True; else take nothing and return False.

        A cost above ``burst`` never succeeds. Raises ValueError for a negative cost.
        """
        if cost < 0:
            raise ValueError("cost must be >= 0")
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def available(self) -> float:
        """The units that could be taken now (between 0 and ``burst``)."""
        self._refill()
        return self._tokens
