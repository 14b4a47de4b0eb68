"""The LimitStore contract (security/limit_store.py), one suite for every implementation.

To check another implementation, add a `StoreImplementation` to IMPLEMENTATIONS: `nodes(n)` opens
the stores of n nodes of one service (on one fresh Redis key prefix); `max_nodes` is how many
nodes share one (this node's memory serves one). The tests at the end are about nodes sharing
counts, and about what a store does when Redis is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from taskroom.durations import Seconds
from taskroom.redis_state import REDIS_ERRORS, RedisNodeState
from taskroom.security.limit_store import LimitStore, MemoryLimitStore, Window
from taskroom.security.redis_limit_store import RedisLimitStore
from tests.support.redis_keys import drop_keys_async
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis

T = TypeVar("T")

HEARTBEAT = Seconds(0.1)


@dataclass(frozen=True)
class StoreImplementation:
    name: str
    nodes: Callable[[int], contextlib.AbstractAsyncContextManager[list[LimitStore]]]
    max_nodes: int
    require: Callable[[], None] = lambda: None


@contextlib.asynccontextmanager
async def _memory(count: int) -> AsyncIterator[list[LimitStore]]:
    assert count == 1
    yield [MemoryLimitStore()]


@contextlib.asynccontextmanager
async def _redis_states(count: int, url: str = REDIS_URL) -> AsyncIterator[list[RedisNodeState]]:
    prefix = fresh_prefix()
    states = [RedisNodeState(url, prefix, f"node-{n}", HEARTBEAT) for n in range(count)]
    try:
        yield states
    finally:
        for state in states:
            await state.close()
        if url == REDIS_URL:
            await drop_keys_async(url, prefix)


@contextlib.asynccontextmanager
async def _redis(count: int) -> AsyncIterator[list[LimitStore]]:
    async with _redis_states(count) as states:
        for state in states:
            await state.beat()
        yield [RedisLimitStore(state) for state in states]


IMPLEMENTATIONS = [
    StoreImplementation("memory", _memory, max_nodes=1),
    StoreImplementation("redis", _redis, max_nodes=3, require=require_redis),
]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda impl: impl.name)
def impl(request: pytest.FixtureRequest) -> StoreImplementation:
    implementation: StoreImplementation = request.param
    implementation.require()
    return implementation


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario()

    return asyncio.run(main())


def hit_id() -> str:
    return uuid.uuid4().hex


async def hits(store: LimitStore, windows: list[Window], count: int) -> list[float | None]:
    return [await store.hit(windows, hit_id()) for _ in range(count)]


async def wait_until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


# --- sliding windows ----------------------------------------------------------------------------


def test_a_window_admits_its_limit_then_says_how_long_to_wait(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            window = Window("k", 3, 60)
            assert await hits(store, [window], 3) == [None, None, None]
            wait = await store.hit([window], hit_id())
            assert wait is not None and 0 < wait <= 60

    run(scenario)


def test_keys_are_counted_apart(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            await hits(store, [Window("a", 1, 60)], 1)
            assert await store.hit([Window("a", 1, 60)], hit_id()) is not None
            assert await store.hit([Window("b", 1, 60)], hit_id()) is None

    run(scenario)


def test_a_hit_refused_by_one_window_is_counted_in_none(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            tight, loose = Window("tight", 1, 60), Window("loose", 2, 60)
            assert await store.hit([tight, loose], hit_id()) is None
            assert await store.hit([tight, loose], hit_id()) is not None  # refused: loose not counted
            # The loose window holds the first hit only: one more place, not zero.
            assert await store.hit([loose], hit_id()) is None
            assert await store.hit([loose], hit_id()) is not None

    run(scenario)


def test_taking_a_hit_back_frees_its_place_and_clearing_frees_all(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            window = Window("k", 2, 60)
            first, second = hit_id(), hit_id()
            assert await store.hit([window], first) is None
            assert await store.hit([window], second) is None
            assert await store.hit([window], hit_id()) is not None
            await store.take_back(window, first)
            assert await store.hit([window], hit_id()) is None
            assert await store.hit([window], hit_id()) is not None
            await store.clear(window)
            assert await hits(store, [window], 2) == [None, None]

    run(scenario)


def test_a_window_admits_again_once_its_hits_are_old_enough(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            window = Window("k", 1, 0.2)
            assert await store.hit([window], hit_id()) is None

            async def admitted() -> bool:
                return await store.hit([window], hit_id()) is None

            await wait_until(admitted)

    run(scenario)


# --- token buckets ------------------------------------------------------------------------------


def test_a_bucket_gives_its_burst_then_refuses(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            # A slow refill (one token a minute): the test's own pace cannot refill it.
            taken = [await store.take_tokens("u1", 1 / 60, 4, 1.0) for _ in range(5)]
            assert taken == [True] * 4 + [False]
            assert await store.take_tokens("u2", 1 / 60, 4, 1.0)  # another key has its own

    run(scenario)


def test_fractional_costs_add_up(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            taken = [await store.take_tokens("u1", 1 / 60, 1, 0.25) for _ in range(5)]
            assert taken == [True] * 4 + [False]

    run(scenario)


def test_a_bucket_refills_with_time(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            assert await store.take_tokens("u1", 20, 1, 1.0)
            assert not await store.take_tokens("u1", 20, 1, 1.0)

            async def refilled() -> bool:
                return await store.take_tokens("u1", 20, 1, 1.0)

            await wait_until(refilled)

    run(scenario)


# --- connection slots ---------------------------------------------------------------------------


def test_slots_are_held_up_to_the_limit_and_freed_on_close(impl: StoreImplementation) -> None:
    async def scenario() -> None:
        async with impl.nodes(1) as [store]:
            assert await store.open_slot("alice", "c1", 2)
            assert await store.open_slot("alice", "c1", 2)  # the same slot again is still one
            assert await store.open_slot("alice", "c2", 2)
            assert not await store.open_slot("alice", "c3", 2)
            assert await store.open_slot("bob", "c4", 2)
            assert await store.slots("alice") == 2
            await store.close_slot("alice", "c1")
            assert await store.slots("alice") == 1
            assert await store.open_slot("alice", "c3", 2)
            await store.close_slot("alice", "never-opened")
            assert await store.slots("alice") == 2

    run(scenario)


# --- several nodes ------------------------------------------------------------------------------


def test_the_nodes_of_a_service_count_together() -> None:
    require_redis()

    async def scenario() -> None:
        async with _redis(2) as [a, b]:
            window = Window("login", 2, 60)
            assert await a.hit([window], hit_id()) is None
            assert await b.hit([window], hit_id()) is None
            assert await a.hit([window], hit_id()) is not None
            assert await b.hit([window], hit_id()) is not None
            assert [await a.take_tokens("u", 1 / 60, 2, 1.0), await b.take_tokens("u", 1 / 60, 2, 1.0)] == [
                True,
                True,
            ]
            assert not await b.take_tokens("u", 1 / 60, 2, 1.0)
            assert await a.open_slot("alice", "on-a", 2)
            assert await b.open_slot("alice", "on-b", 2)
            assert not await b.open_slot("alice", "again-on-b", 2)
            await a.close_slot("alice", "on-a")
            assert await b.open_slot("alice", "again-on-b", 2)

    run(scenario)


def test_the_slots_of_a_node_that_stops_beating_stop_counting_and_are_swept() -> None:
    require_redis()

    async def scenario() -> None:
        async with _redis_states(2) as (a_state, b_state):
            await a_state.beat()
            await b_state.beat()
            a, b = RedisLimitStore(a_state), RedisLimitStore(b_state)
            assert await a.open_slot("alice", "on-a", 1)
            assert not await b.open_slot("alice", "on-b", 1)

            # A stops beating: its slot no longer counts once it is dead.
            async def admitted() -> bool:
                await b_state.beat()
                return await b.open_slot("alice", "on-b", 1)

            await wait_until(admitted)
            assert await b_state.claim_dead() == [a_state.instance]
            await b.sweep(a_state.instance)
            await b_state.forget(a_state.instance)
            assert await b.slots("alice") == 1
            # A comes back (it was only slow): its slot is written back, over the limit or not.
            assert await a_state.beat() is False
            await a.resync()
            assert await b.slots("alice") == 2

    run(scenario)


def test_without_redis_the_limits_are_the_nodes_own_and_nothing_fails() -> None:
    async def scenario() -> None:
        async with _redis_states(1, url="redis://127.0.0.1:1/0") as (state,):
            with pytest.raises(REDIS_ERRORS):  # the start's beat: the node stays in local mode
                await state.beat()
            store = RedisLimitStore(state)
            window = Window("k", 1, 60)
            assert await store.hit([window], hit_id()) is None
            assert await store.hit([window], hit_id()) is not None
            assert await store.take_tokens("u", 1 / 60, 1, 1.0)
            assert not await store.take_tokens("u", 1 / 60, 1, 1.0)
            assert await store.open_slot("alice", "c1", 1)
            assert not await store.open_slot("alice", "c2", 1)
            await store.close_slot("alice", "c1")
            assert await store.open_slot("alice", "c2", 1)
            assert state.take_dirty()

    run(scenario)


def test_without_redis_each_node_admits_its_share_and_its_hits_reach_redis_when_it_is_back() -> None:
    """Three nodes, a window of 5: the outage lets through 5 in all, counting what came before."""
    require_redis()

    async def admitted(store: RedisLimitStore, window: Window) -> int:
        count = 0
        while await store.hit([window], hit_id()) is None:
            count += 1
        return count

    async def scenario() -> None:
        async with _redis_states(3) as states:
            for state in [*states, *states]:  # twice: each has seen the three alive
                await state.beat()
            a, b, c = (RedisLimitStore(state) for state in states)
            window = Window("login", 5, 60)
            assert await a.hit([window], hit_id()) is None  # counted in Redis, and in A's memory

            for state in states:  # Redis away (and its keys lost, as on a restart without them)
                state.failed("limits", OSError("link cut"))
            await states[0].redis.delete(states[0].key("limit", "login"))
            assert [await admitted(store, window) for store in (a, b, c)] == [0, 1, 1]

            for store, state in zip((a, b, c), states, strict=True):  # what the heartbeat does
                await store.carry()
                state.back_in_shared_mode()
            assert await admitted(b, window) == 2  # 1 + 2 + 2: the limit, not more

    run(scenario)
