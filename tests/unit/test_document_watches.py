"""The documents' workspace watches (documents/watches.py) against a port that starts when told.

One watch per workspace however many connections hold it; an admission never gets an epoch
before the watch is in place (its role read would race the events it then misses); only access
events count; the last holder letting go closes the handle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from taskroom.documents.watches import WorkspaceWatches
from taskroom.events import LogEvent
from taskroom.wire import MessageType


class Handle:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class Port:
    """Starts a watch only once `start` is set, as a room that reads its position from the log."""

    def __init__(self) -> None:
        self.start = asyncio.Event()
        self.watched: list[tuple[str, Callable[[LogEvent], None], Handle]] = []

    async def watch(self, workspace_id: str, on_event: Callable[[LogEvent], None]) -> Handle:
        await self.start.wait()
        handle = Handle()
        self.watched.append((workspace_id, on_event, handle))
        return handle


def event(kind: MessageType) -> LogEvent:
    return LogEvent("w", 1, "event-1", kind, "{}")


def test_concurrent_holders_share_one_watch_and_wait_until_it_is_in_place() -> None:
    async def scenario() -> None:
        port = Port()
        changed: list[str] = []
        watches = WorkspaceWatches(port, changed.append)
        first = asyncio.create_task(watches.hold("w"))
        second = asyncio.create_task(watches.hold("w"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not first.done() and not second.done()  # no epoch before the room is positioned
        port.start.set()
        assert await first == 0 and await second == 0
        assert len(port.watched) == 1

        _, on_event, handle = port.watched[0]
        on_event(event(MessageType.TASK_UPDATED))  # not about access: nothing to check
        on_event(event(MessageType.WORKSPACE_MEMBER_REMOVED))
        assert (watches.epoch("w"), changed) == (1, ["w"])

        await watches.let_go("w")
        assert not handle.closed
        await watches.let_go("w")
        assert handle.closed and watches.epoch("w") is None

    asyncio.run(scenario())


def test_a_watch_that_fails_to_start_leaves_nothing_behind() -> None:
    class FailingOnce(Port):
        failed = False

        async def watch(self, workspace_id: str, on_event: Callable[[LogEvent], None]) -> Handle:
            await self.start.wait()
            if not self.failed:
                self.failed = True
                raise ConnectionError("broker away")
            return await super().watch(workspace_id, on_event)

    async def scenario() -> None:
        port = FailingOnce()
        watches = WorkspaceWatches(port, lambda _: None)
        first = asyncio.create_task(watches.hold("w"))
        second = asyncio.create_task(watches.hold("w"))
        await asyncio.sleep(0)
        port.start.set()
        results = await asyncio.gather(first, second, return_exceptions=True)
        assert all(isinstance(result, ConnectionError) for result in results)
        assert watches.epoch("w") is None  # the next admission tries afresh
        assert await watches.hold("w") == 0
        assert len(port.watched) == 1

    asyncio.run(scenario())
