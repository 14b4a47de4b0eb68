"""Durations as the code reads them: seconds, converted once from the environment's milliseconds.

`Seconds` is a NewType of float, not a `datetime.timedelta`: everything that waits takes float
seconds (asyncio's sleep and call_later, httpx and uvicorn timeouts, websockets' ping options),
so a timedelta would need `.total_seconds()` at each of those calls, a conversion at the call
site again. The NewType costs nothing at run time, and mypy refuses a bare number (a
millisecond count, say) where `Seconds` is asked for.
"""

from __future__ import annotations

from typing import NewType

Seconds = NewType("Seconds", float)


def from_milliseconds(milliseconds: int) -> Seconds:
    """A setting documented in milliseconds (PROTOCOL.md §1), as the code reads it."""
    return Seconds(milliseconds / 1000)


def to_milliseconds(seconds: Seconds) -> int:
    """Back to whole milliseconds, for the one place that counts in them: the Redis scripts,
    which compare against Redis TIME in milliseconds."""
    return round(seconds * 1000)
