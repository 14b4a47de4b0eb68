"""The port through which committed events wake the delivery loop, given at wiring time."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...events import LogEvent
from ...wire import MessageType
from ..publisher import EventPublisher


class WakingPublisher:
    """The node's publisher, plus a wake-up of webhook delivery after each commit with events."""

    def __init__(self, inner: EventPublisher, wake: Callable[[], None]) -> None:
        self._inner = inner
        self._wake = wake

    async def publish_committed(self, events: Sequence[LogEvent]) -> None:
        await self._inner.publish_committed(events)
        if events:
            self._wake()

    async def notify_user(
        self, user_id: str, envelope: str, frame_type: MessageType, join_workspace_id: str | None = None
    ) -> None:
        await self._inner.notify_user(user_id, envelope, frame_type, join_workspace_id)
