"""The Presence contract (realtime/presence.py), one suite for every implementation.

To check another implementation, add a `PresenceImplementation` for it to IMPLEMENTATIONS (it
opens a fresh, empty presence, e.g. on its own Redis key prefix): every test here then runs
against it too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TypeVar

import pytest

from taskroom.durations import Seconds
from taskroom.realtime.presence import MemoryPresence, Presence, PresenceMeta, UserPresence
from taskroom.realtime.redis_presence import RedisPresence
from taskroom.redis_state import RedisNodeState
from tests.support.redis_keys import drop_keys_async
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis

T = TypeVar("T")

Opener = Callable[[], AbstractAsyncContextManager[Presence]]


@dataclass(frozen=True)
class PresenceImplementation:
    name: str
    open: Opener
    require: Callable[[], None] = lambda: None


@contextlib.asynccontextmanager
async def _memory() -> AsyncIterator[Presence]:
    yield MemoryPresence()


@contextlib.asynccontextmanager
async def _redis() -> AsyncIterator[Presence]:
    prefix = fresh_prefix()
    state = RedisNodeState(REDIS_URL, prefix, "node-test", heartbeat=Seconds(5.0))
    await state.beat()
    try:
        yield RedisPresence(state)
    finally:
        await state.close()
        await drop_keys_async(REDIS_URL, prefix)


IMPLEMENTATIONS = [
    PresenceImplementation("memory", _memory),
    PresenceImplementation("redis", _redis, require_redis),
]

T1 = "2026-11-26T14:00:01.000Z"
T2 = "2026-11-26T14:00:02.000Z"
T3 = "2026-11-26T14:00:03.000Z"
T4 = "2026-11-26T14:00:04.000Z"


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda impl: impl.name)
def make_presence(request: pytest.FixtureRequest) -> Opener:
    implementation: PresenceImplementation = request.param
    implementation.require()
    return implementation.open


def run(scenario: Callable[[Presence], Awaitable[T]], make: Opener) -> T:
    async def main() -> T:
        async with make() as presence:
            return await scenario(presence)

    return asyncio.run(main())


def meta(connection: str, user: str, status: str = "online", at: str = T1) -> PresenceMeta:
    return PresenceMeta(connection, user, status, at)


def by_user(users: list[UserPresence]) -> dict[str, tuple[str, str]]:
    """users() as {userId: (status, lastSeen)}; each user must appear once."""
    ids = [u.user_id for u in users]
    assert len(ids) == len(set(ids)), f"a user is listed twice: {ids}"
    return {u.user_id: (u.status, u.last_seen) for u in users}


def test_an_empty_workspace_has_nobody(make_presence: Opener) -> None:
    async def scenario(presence: Presence) -> None:
        assert await presence.users("w1") == []

    run(scenario, make_presence)


def test_a_users_first_connection_has_no_before(make_presence: Opener) -> None:
    async def scenario(presence: Presence) -> None:
        before, after = await presence.track("w1", meta("c1", "alice", "online", T1))
        assert before is None
        assert after == UserPresence("alice", "online", T1)
        assert by_user(await presence.users("w1")) == {"alice": ("online", T1)}

    run(scenario, make_presence)


def test_a_second_connection_of_the_same_user_is_aggregated(make_presence: Opener) -> None:
    async def scenario(presence: Presence) -> None:
        await presence.track("w1", meta("c1", "alice", "online", T1))
        before, after = await presence.track("w1", meta("c2", "alice", "online", T2))
        assert before == UserPresence("alice", "online", T1)
        assert after == UserPresence("alice", "online", T2)  # lastSeen: the latest of any connection
        assert by_user(await presence.users("w1")) == {"alice": ("online", T2)}

    run(scenario, make_presence)


@pytest.mark.parametrize(
    ("statuses", "aggregated"),
    [
        (["away", "online"], "online"),
        (["busy", "away"], "busy"),
        (["away", "busy", "online"], "online"),
        (["away", "away"], "away"),
    ],
)
def test_the_most_available_status_over_connections_wins(
    make_presence: Opener, statuses: list[str], aggregated: str
) -> None:
    async def scenario(presence: Presence) -> None:
        after = None
        for n, status in enumerate(statuses):
            _, after = await presence.track("w1", meta(f"c{n}", "alice", status))
        assert after is not None and after.status == aggregated
        assert by_user(await presence.users("w1"))["alice"][0] == aggregated

    run(scenario, make_presence)


def test_tracking_a_connection_again_replaces_its_entry(make_presence: Opener) -> None:
    async def scenario(presence: Presence) -> None:
        await presence.track("w1", meta("c1", "alice", "online", T1))
        before, after = await presence.track("w1", meta("c1", "alice", "away", T2))
        assert before == UserPresence("alice", "online", T1)
        assert after == UserPresence("alice", "away", T2)
        # One entry, not two: leaving once makes the user offline.
        change = await presence.untrack("w1", "c1", T3)
        assert change is not None and change[1].status == "offline"

    run(scenario, make_presence)


def test_the_user_stays_present_until_the_last_connection_goes(
    make_presence: Opener,
) -> None:
    async def scenario(presence: Presence) -> None:
        await presence.track("w1", meta("c1", "alice", "away", T1))
        await presence.track("w1", meta("c2", "alice", "online", T2))
        first = await presence.untrack("w1", "c2", T3)
        assert first == (UserPresence("alice", "online", T2), UserPresence("alice", "away", T1))
        last = await presence.untrack("w1", "c1", T4)
        assert last == (UserPresence("alice", "away", T1), UserPresence("alice", "offline", T4))
        assert await presence.users("w1") == []

    run(scenario, make_presence)


def test_untracking_an_unknown_connection_changes_nothing(make_presence: Opener) -> None:
    async def scenario(presence: Presence) -> None:
        assert await presence.untrack("w1", "nobody", T1) is None
        await presence.track("w1", meta("c1", "alice"))
        assert await presence.untrack("w2", "c1", T2) is None
        assert await presence.untrack("w1", "c1", T2) is not None
        assert await presence.untrack("w1", "c1", T3) is None  # only once

    run(scenario, make_presence)


def test_users_lists_everybody_present_once(make_presence: Opener) -> None:
    async def scenario(presence: Presence) -> None:
        await presence.track("w1", meta("c1", "alice", "online", T1))
        await presence.track("w1", meta("c2", "alice", "away", T2))
        await presence.track("w1", meta("c3", "bob", "busy", T3))
        await presence.track("w1", meta("c4", "carol", "away", T1))
        await presence.untrack("w1", "c4", T4)
        assert by_user(await presence.users("w1")) == {"alice": ("online", T2), "bob": ("busy", T3)}

    run(scenario, make_presence)


def test_workspaces_are_independent(make_presence: Opener) -> None:
    async def scenario(presence: Presence) -> None:
        # The same connection in two rooms, with a different status in each.
        await presence.track("w1", meta("c1", "alice", "busy", T1))
        await presence.track("w2", meta("c1", "alice", "away", T1))
        await presence.track("w2", meta("c2", "bob", "online", T1))
        assert by_user(await presence.users("w1")) == {"alice": ("busy", T1)}
        assert by_user(await presence.users("w2")) == {"alice": ("away", T1), "bob": ("online", T1)}
        await presence.untrack("w1", "c1", T2)
        assert await presence.users("w1") == []
        assert by_user(await presence.users("w2"))["alice"] == ("away", T1)

    run(scenario, make_presence)


def test_wire_form_is_the_protocols(make_presence: Opener) -> None:
    async def scenario(presence: Presence) -> None:
        _, after = await presence.track("w1", meta("c1", "alice", "busy", T1))
        assert after.wire() == {"userId": "alice", "status": "busy", "lastSeen": T1}

    run(scenario, make_presence)
