"""The seam between committed changes and the real-time layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..wire import MessageType


@dataclass(frozen=True, slots=True)
class CommittedEvent:
    """One row of a workspace log, with the envelope exactly as clients receive it."""

    workspace_id: str
    seq: int
    event_id: str
    type: MessageType
    envelope: str
    # The member an event is about (added, updated or removed), so rooms can act on membership
    # without decoding the envelope.
    subject_user_id: str | None = None


class EventPublisher(Protocol):
    async def publish_committed(self, events: Sequence[CommittedEvent]) -> None:
        """Called after commit. May lose events (the log is the source of truth); must not raise."""

    async def notify_user(self, user_id: str, envelope: str, join_workspace_id: str | None = None) -> None:
        """A frame for one user's own connections (WORKSPACE_CREATED), optionally joining a room."""


class NullPublisher:
    """For tools that write without a real-time layer (the CLI)."""

    async def publish_committed(self, events: Sequence[CommittedEvent]) -> None:
        return None

    async def notify_user(self, user_id: str, envelope: str, join_workspace_id: str | None = None) -> None:
        return None
