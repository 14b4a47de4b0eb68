"""Reset snapshots are built a few at a time on a node, however many clients need one at once."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from taskroom.metrics import NodeMetrics
from taskroom.realtime.connection import Connection
from taskroom.realtime.replay import SNAPSHOTS_AT_ONCE, Replayer
from taskroom.services.feeds import WorkspaceFeeds


class HeldFeeds:
    """Snapshots that finish only when the test lets them; counts how many are being built."""

    def __init__(self) -> None:
        self.building = 0
        self.most = 0
        self.release = asyncio.Event()

    async def snapshot(self, workspace_id: str, user_id: str) -> tuple[dict[str, Any], int]:
        self.building += 1
        self.most = max(self.most, self.building)
        await self.release.wait()
        self.building -= 1
        return {"workspace": {"id": workspace_id}, "members": [], "tasks": []}, 7


class Sink:
    """The part of a connection a reset uses: who it is, room on the socket, and a send."""

    def __init__(self) -> None:
        self.user_id = "u1"
        self.sent: list[bytes] = []

    async def wait_for_room(self, size: int) -> None:
        return None

    def send(self, frame: bytes, *, oversize_ok: bool = False) -> None:
        self.sent.append(frame)


def test_no_more_than_a_few_snapshots_are_built_at_once() -> None:
    async def scenario() -> None:
        feeds = HeldFeeds()
        replayer = Replayer(cast(WorkspaceFeeds, feeds), NodeMetrics())
        sinks = [Sink() for _ in range(8)]
        resets = [
            asyncio.create_task(replayer.send_reset(cast(Connection, sink), "w1", None)) for sink in sinks
        ]
        for _ in range(20):  # every reset has had turns to start: the first few build, the rest wait
            await asyncio.sleep(0)
        assert feeds.building == SNAPSHOTS_AT_ONCE
        feeds.release.set()
        assert await asyncio.gather(*resets) == [7] * 8
        assert feeds.most == SNAPSHOTS_AT_ONCE
        assert all(len(sink.sent) == 1 for sink in sinks)

    asyncio.run(scenario())
