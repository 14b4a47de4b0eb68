"""The seam between committed changes and the real-time layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..events import LogEvent
from ..wire import MessageType


class EventPublisher(Protocol):
    async def publish_committed(self, events: Sequence[LogEvent]) -> None:
        """Called after commit. May lose events (the log is the source of truth); must not raise."""

    async def notify_user(
        self, user_id: str, envelope: str, frame_type: MessageType, join_workspace_id: str | None = None
    ) -> None:
        """A frame for one user's own connections (WORKSPACE_CREATED, NOTIFICATION), optionally
        joining a room. `frame_type` is the frame's type, for the counters."""


class NullPublisher:
    """For tools that write without a real-time layer (the CLI)."""

    async def publish_committed(self, events: Sequence[LogEvent]) -> None:
        return None

    async def notify_user(
        self, user_id: str, envelope: str, frame_type: MessageType, join_workspace_id: str | None = None
    ) -> None:
        return None
