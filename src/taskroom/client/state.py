"""The client's connection state as it reports it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConnectionState(StrEnum):
    """``connecting`` until the first connection is open; ``open`` while authenticated;
    ``reconnecting`` from a lost connection until the next one is open; ``closed`` before
    ``connect()`` and after ``disconnect()``; ``unauthorized`` once the client stopped because
    the server refused its tokens (PROTOCOL.md §4), until the next ``connect()``."""

    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True)
class StateChange:
    """One report to ``on_state_change`` handlers.

    A report is made when the state changes and, while connecting or reconnecting, at the start
    of every attempt: ``attempt`` numbers them from 1 since the last open connection (0 on the
    other reports). ``at`` is the client's monotonic clock (``time.monotonic``) at the moment of
    the change, not of its delivery. ``close_code`` and ``reason`` say why the previous
    connection or attempt ended, as far as known; ``delay`` is how long the client waited
    (back-off) before this attempt.
    """

    state: ConnectionState
    previous: ConnectionState
    at: float
    attempt: int = 0
    close_code: int | None = None
    reason: str | None = None
    delay: float | None = None
