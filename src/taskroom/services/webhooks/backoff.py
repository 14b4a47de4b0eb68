"""The wait before a failed delivery's next attempt: exponential, capped, with full jitter."""

from __future__ import annotations

import random


def retry_delay(failures: int, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after `failures` failures in a row (1 = the first failure).

    Full jitter (a uniform draw below the exponential ceiling) spreads the retries of many hooks
    whose receiver failed at the same moment, instead of sending them all again in step."""
    ceiling = min(maximum, initial * 2 ** min(failures - 1, 62))
    return (rng or random).uniform(0, ceiling)
