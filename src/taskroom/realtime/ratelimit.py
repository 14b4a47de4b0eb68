"""The abuse counter of WebSocket connections (§3.5), without I/O.

The token bucket it works with is `taskroom.security.token_bucket.TokenBucket`, shared with the
limit store and the document endpoint.
"""

from __future__ import annotations


class AbuseCounter:
    """Tells a burst of rejections (answer RATE_LIMITED) from abuse that goes on (close 1008).

    Counts consecutive rejections; any accepted message starts the count again.
    """

    def __init__(self, threshold: int) -> None:
        if threshold < 1:
            raise ValueError("threshold must be >= 1")
        self.threshold = threshold
        self.count = 0

    def rejected(self) -> bool:
        """Record one rejection; True once ``threshold`` consecutive rejections are reached
        (and for every further one until :meth:`accepted`)."""
        self.count += 1
        return self.count >= self.threshold

    def accepted(self) -> None:
        """Record an accepted message: the rejection streak is over."""
        self.count = 0
