"""When to try connecting again: exponential back-off with full jitter, a floor, and a reset.

Pure (no I/O, no sleeping): the caller asks for the next delay and sleeps itself, so the sequence
is unit-tested with a scripted random source and clock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays between connection attempts.

    The n-th delay after a failure (n = 0, 1, …) is drawn uniformly from
    ``[0, min(cap, base * 2**n)]`` ("full jitter", so a crowd of clients that lost the same node
    spreads out instead of reconnecting in waves), then raised to ``floor``: whatever the server
    answers — a refused TCP connection, a close 1008, 1013 or 4401 right after the handshake —
    two attempts are never closer than ``floor`` seconds.

    The exponent goes back to 0 only once a connection stayed open for ``healthy_after`` seconds:
    a server that accepts and then drops every connection keeps the delays growing.

    ``random`` returns a float in [0, 1); ``clock`` is a monotonic clock in seconds.
    """

    base: float = 0.5
    cap: float = 30.0
    floor: float = 0.25
    healthy_after: float = 10.0
    random: Callable[[], float] = field(default=random.random, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    failures: int = 0
    _opened_at: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.base > 0 or not self.cap > 0:
            raise ValueError("base and cap must be positive")
        if not 0 <= self.floor <= self.cap:
            raise ValueError("floor must be between 0 and cap")
        if self.healthy_after < 0:
            raise ValueError("healthy_after must not be negative")

    def ceiling(self, failures: int) -> float:
        """The upper bound of the jitter window after `failures` failures in a row."""
        # 2**failures overflows a float past ~1024; the cap is reached long before.
        return self.cap if failures >= 64 else min(self.cap, self.base * 2.0**failures)

    def opened(self) -> None:
        """A connection is open (authenticated): start timing how long it stays healthy."""
        self._opened_at = self.clock()

    def next_delay(self) -> float:
        """The delay before the next attempt, after a failed attempt or a lost connection."""
        if self._opened_at is not None and self.clock() - self._opened_at >= self.healthy_after:
            self.failures = 0
        self._opened_at = None
        delay = max(self.floor, self.random() * self.ceiling(self.failures))
        self.failures += 1
        return delay
