"""The backlog a connection holds while it replays the log: bounded, and closed by a removal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from taskroom.realtime.room import Backlog


@dataclass
class FakeConnection:
    limit: int
    aborted: list[int] = field(default_factory=list)

    def abort(self, code: int, reason: str = "") -> None:
        self.aborted.append(code)


def make(limit: int) -> tuple[Backlog, FakeConnection]:
    async def build() -> tuple[Backlog, FakeConnection]:
        connection = FakeConnection(limit)
        return Backlog(connection), connection  # type: ignore[arg-type]

    return asyncio.run(build())


def test_events_are_held_in_order_until_taken() -> None:
    backlog, _ = make(limit=1000)
    backlog.hold(5, "five")
    backlog.hold(6, "six")
    assert backlog.next() == (5, "five")
    assert backlog.next() == (6, "six")
    assert backlog.size == 0


def test_a_backlog_past_the_bound_drops_everything_and_closes_1013() -> None:
    backlog, connection = make(limit=10)
    backlog.hold(1, "x" * 6)
    assert connection.aborted == []
    backlog.hold(2, "y" * 6)
    assert connection.aborted == [1013]
    assert not backlog.events
    assert backlog.size == 0


def test_a_closed_backlog_ends_with_what_it_held_and_takes_nothing_more() -> None:
    backlog, _ = make(limit=1000)
    backlog.hold(7, "removal")
    backlog.close()
    backlog.hold(8, "later")
    assert list(backlog.events) == [(7, "removal")]
    assert backlog.arrived.is_set()
