"""What only shared presence has to get right: nodes that die, come back, or lose Redis.

Each node here is a `RedisNodeState` + `RedisPresence` on one fresh key prefix; a node "dies" by
no longer beating (as a SIGKILLed process does), with nothing said to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from taskroom.durations import Seconds
from taskroom.realtime.heartbeat import NodeHeartbeat
from taskroom.realtime.presence import PresenceMeta, UserPresence
from taskroom.realtime.redis_presence import RedisPresence
from taskroom.redis_state import REDIS_ERRORS, RedisNodeState
from taskroom.security.redis_limit_store import RedisLimitStore
from tests.support.redis_keys import drop_keys_async
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis

T = TypeVar("T")

HEARTBEAT = Seconds(0.1)  # a node missing two beats (0.2 s) counts as dead
T1 = "2026-11-26T14:00:01.000Z"
T2 = "2026-11-26T14:00:02.000Z"


@pytest.fixture(autouse=True)
def _redis() -> None:
    require_redis()


@dataclass
class FakeNode:
    state: RedisNodeState
    presence: RedisPresence


@contextlib.asynccontextmanager
async def nodes(count: int, url: str = REDIS_URL) -> AsyncIterator[list[FakeNode]]:
    prefix = fresh_prefix()
    made = [RedisNodeState(url, prefix, f"node-{n}", HEARTBEAT) for n in range(count)]
    try:
        yield [FakeNode(state, RedisPresence(state)) for state in made]
    finally:
        for state in made:
            await state.close()
        if url == REDIS_URL:
            await drop_keys_async(url, prefix)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario()

    return asyncio.run(main())


async def wait_until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def listed(node: FakeNode, workspace_id: str) -> dict[str, str]:
    return {user.user_id: user.status for user in await node.presence.users(workspace_id)}


def test_a_dead_nodes_users_are_not_listed_and_its_sweeper_announces_them_offline_once() -> None:
    async def scenario() -> None:
        async with nodes(3) as (a, b, c):
            for node in (a, b, c):
                await node.state.beat()
            await a.presence.track("w1", PresenceMeta("ca", "alice", "online", T1))
            await a.presence.track("w2", PresenceMeta("ca", "alice", "busy", T1))
            await b.presence.track("w1", PresenceMeta("cb", "bob", "online", T1))
            assert await listed(c, "w1") == {"alice": "online", "bob": "online"}

            # A stops beating; B and C go on.
            async def alice_gone() -> bool:
                await b.state.beat()
                await c.state.beat()
                return "alice" not in await listed(c, "w1")

            await wait_until(alice_gone)
            assert await listed(b, "w1") == {"bob": "online"}
            claimed_by_b = await b.state.claim_dead()
            assert claimed_by_b == [a.state.instance]
            assert await c.state.claim_dead() == []  # one sweeper per dead node
            offline = await b.presence.sweep(a.state.instance)
            assert sorted((change.workspace_id, change.after.user_id) for change in offline) == [
                ("w1", "alice"),
                ("w2", "alice"),
            ]
            assert {change.after.status for change in offline} == {"offline"}
            await b.state.forget(a.state.instance)
            assert await b.presence.sweep(a.state.instance) == []  # nothing left to announce

    run(scenario)


def test_a_user_also_connected_on_a_live_node_stays_present_when_the_other_dies() -> None:
    async def scenario() -> None:
        async with nodes(2) as (a, b):
            await a.state.beat()
            await b.state.beat()
            await a.presence.track("w1", PresenceMeta("ca", "alice", "online", T2))
            await b.presence.track("w1", PresenceMeta("cb", "alice", "away", T1))
            assert await listed(b, "w1") == {"alice": "online"}

            async def only_bs_entry() -> bool:
                await b.state.beat()
                return await listed(b, "w1") == {"alice": "away"}

            await wait_until(only_bs_entry)
            assert await b.state.claim_dead() == [a.state.instance]
            assert await b.presence.sweep(a.state.instance) == []  # alice is still here: no offline
            assert await b.presence.users("w1") == [UserPresence("alice", "away", T1)]

    run(scenario)


def test_a_node_counted_dead_writes_its_entries_back_when_it_beats_again() -> None:
    async def scenario() -> None:
        async with nodes(2) as (a, b):
            await a.state.beat()
            await b.state.beat()
            await a.presence.track("w1", PresenceMeta("ca", "alice", "online", T1))

            async def a_dead() -> bool:
                await b.state.beat()
                return a.state.instance in await b.state.claim_dead()

            await wait_until(a_dead)
            await b.presence.sweep(a.state.instance)
            await b.state.forget(a.state.instance)
            assert await listed(b, "w1") == {}
            # A was only slow: its next beat says it had been counted dead, and it writes back.
            assert await a.state.beat() is False
            changes = await a.presence.resync()
            assert [(c.workspace_id, c.before, c.after.status) for c in changes] == [("w1", None, "online")]
            assert await listed(b, "w1") == {"alice": "online"}
            assert await a.state.beat() is True

    run(scenario)


def test_without_redis_presence_answers_from_the_nodes_own_entries() -> None:
    async def scenario() -> None:
        # Nothing listens on port 1: every Redis call fails at once.
        async with nodes(1, url="redis://127.0.0.1:1/0") as (a,):
            with pytest.raises(REDIS_ERRORS):  # the start's beat: the node stays in local mode
                await a.state.beat()
            assert not a.state.usable()
            before, after = await a.presence.track("w1", PresenceMeta("c1", "alice", "busy", T1))
            assert (before, after) == (None, UserPresence("alice", "busy", T1))
            assert await a.presence.users("w1") == [UserPresence("alice", "busy", T1)]
            change = await a.presence.untrack("w1", "c1", T2)
            assert change is not None and change[1] == UserPresence("alice", "offline", T2)
            assert a.state.take_dirty()  # the next heartbeat that gets through writes it all back

    run(scenario)


def test_an_untrack_made_right_after_a_track_leaves_no_entry_behind() -> None:
    async def scenario() -> None:
        async with nodes(2) as (a, b):
            await a.state.beat()
            await b.state.beat()
            # The track's trip to Redis is slow (a busy pool, a slow network); the untrack is made
            # while it is on its way, and must still reach Redis after it.
            script = a.presence._track

            async def slow_track(**kwargs: Any) -> Any:
                await asyncio.sleep(0.2)
                return await script(**kwargs)

            a.presence._track = slow_track  # type: ignore[assignment]
            tracking = asyncio.create_task(a.presence.track("w1", PresenceMeta("c1", "alice", "online", T1)))
            await asyncio.sleep(0.05)
            change = await a.presence.untrack("w1", "c1", T2)
            await tracking
            assert change is not None and change[1].status == "offline"
            assert await listed(b, "w1") == {}

    run(scenario)


class HeardAnnouncements:
    """Stands in for the node's announcer: keeps what the heartbeat would tell every node."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str, str]] = []

    async def announce(self, workspace_id: str, before: UserPresence | None, after: UserPresence) -> None:
        if before is None or before.status != after.status:
            self.heard.append((workspace_id, after.user_id, after.status))


def test_a_node_back_from_an_outage_sweeps_nobody_whose_beats_stopped_only_because_redis_was_away() -> None:
    async def scenario() -> None:
        async with nodes(2) as (a, b):
            await a.state.beat()
            await b.state.beat()
            await b.presence.track("w1", PresenceMeta("cb", "bob", "online", T1))
            announcer = HeardAnnouncements()
            heartbeat = NodeHeartbeat(a.state, a.presence, RedisLimitStore(a.state), announcer)  # type: ignore[arg-type]

            # Redis is away from both: A notices, and neither beats for longer than a lifetime.
            a.state.failed("presence", OSError("link cut"))
            assert not a.state.usable()
            await asyncio.sleep(3 * HEARTBEAT)
            await heartbeat.beat()  # A's probe gets through first: back in shared mode
            assert a.state.usable()
            await b.state.beat()  # B a moment later
            await heartbeat.beat()
            assert announcer.heard == []
            assert await listed(a, "w1") == {"bob": "online"}

    run(scenario)
