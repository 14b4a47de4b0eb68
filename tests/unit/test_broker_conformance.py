"""The Broker contract (realtime/broker.py), one suite for every implementation.

To check another implementation, add a `BrokerImplementation` for it to IMPLEMENTATIONS: every
test here then runs against it too. `nodes(n)` gives brokers of n nodes sharing one medium;
`max_nodes` is how many nodes the medium can hold (the in-process broker serves one node).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest
import redis.asyncio as redis

from taskroom.realtime.broker import Broker, MemoryBroker
from taskroom.realtime.redis_broker import RedisBroker
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis

T = TypeVar("T")


@dataclass(frozen=True)
class BrokerImplementation:
    name: str
    make_nodes: Callable[[int], list[Broker]]
    max_nodes: int
    # How long to wait before concluding that nothing more is coming.
    settle_seconds: float = 0.05
    # Cuts every node off its medium, as a restart of the medium would (None: nothing to cut).
    disrupt: Callable[[], Awaitable[None]] | None = None

    def nodes(self, count: int) -> list[Broker]:
        assert count <= self.max_nodes
        return self.make_nodes(count)


def _memory_nodes(count: int) -> list[Broker]:
    assert count == 1
    return [MemoryBroker()]


def _redis_nodes(count: int) -> list[Broker]:
    require_redis()
    prefix = fresh_prefix()  # the nodes of one test share it, and nobody else does
    return [RedisBroker(REDIS_URL, prefix) for _ in range(count)]


async def _drop_redis_subscribers() -> None:
    """Close every pub/sub connection on the server, as a Redis restart does."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    finally:
        await client.aclose()


IMPLEMENTATIONS = [
    BrokerImplementation("memory", _memory_nodes, max_nodes=1),
    BrokerImplementation(
        "redis", _redis_nodes, max_nodes=3, settle_seconds=0.2, disrupt=_drop_redis_subscribers
    ),
]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda impl: impl.name)
def impl(request: pytest.FixtureRequest) -> BrokerImplementation:
    implementation: BrokerImplementation = request.param
    return implementation


class Received:
    """Everything one broker hands over, collected by its single consumer."""

    def __init__(self, broker: Broker) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.ended = asyncio.Event()
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._consume(broker))

    async def _consume(self, broker: Broker) -> None:
        try:
            async for item in broker.messages():
                self.items.append(item)
                self._arrived.set()
        finally:
            self.ended.set()

    async def at_least(self, count: int, within: float = 2.0) -> list[tuple[str, bytes]]:
        async def enough() -> None:
            while len(self.items) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(enough(), within)
        return self.items

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def started(impl: BrokerImplementation, count: int = 1) -> AsyncIterator[list[tuple[Broker, Received]]]:
    brokers = impl.nodes(count)
    for broker in brokers:
        await broker.start()
    nodes = [(broker, Received(broker)) for broker in brokers]
    try:
        yield nodes
    finally:
        for broker, received in nodes:
            await received.stop()
            await broker.close()


def run(test: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await test()

    return asyncio.run(main())


def test_a_subscribed_channel_receives_what_is_published_to_it(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.subscribe("ws:a")
            await broker.publish("ws:a", b"hello")
            assert await received.at_least(1) == [("ws:a", b"hello")]

    run(scenario)


def test_payload_bytes_arrive_unchanged(impl: BrokerImplementation) -> None:
    payload = b'{"k":"event"}\n{"type":"TASK_CREATED"}\x00\xff\xfe' + bytes(range(256)) * 40

    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.subscribe("ws:a")
            await broker.publish("ws:a", payload)
            assert await received.at_least(1) == [("ws:a", payload)]

    run(scenario)


def test_messages_of_one_publisher_on_one_channel_keep_their_order(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.subscribe("ws:a")
            for n in range(500):
                await broker.publish("ws:a", str(n).encode())
            items = await received.at_least(500)
            assert [int(payload) for _, payload in items] == list(range(500))

    run(scenario)


def test_only_subscribed_channels_are_received(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.subscribe("ws:a")
            await broker.publish("ws:b", b"not mine")
            await broker.publish("ws:a", b"mine")
            await received.at_least(1)
            await asyncio.sleep(impl.settle_seconds)
            assert received.items == [("ws:a", b"mine")]

    run(scenario)


def test_each_channel_is_told_apart(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.subscribe("ws:a")
            await broker.subscribe("user:u1")
            await broker.publish("user:u1", b"to the user")
            await broker.publish("ws:a", b"to the room")
            items = await received.at_least(2)
            assert sorted(items) == [("user:u1", b"to the user"), ("ws:a", b"to the room")]

    run(scenario)


def test_subscribing_twice_still_delivers_once(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.subscribe("ws:a")
            await broker.subscribe("ws:a")
            await broker.publish("ws:a", b"once")
            await received.at_least(1)
            await asyncio.sleep(impl.settle_seconds)
            assert received.items == [("ws:a", b"once")]

    run(scenario)


def test_nothing_is_delivered_after_unsubscribe_returns(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.subscribe("ws:a")
            await broker.subscribe("ws:marker")
            # Published but perhaps not yet consumed when the unsubscribe happens: still not delivered.
            for n in range(50):
                await broker.publish("ws:a", str(n).encode())
            await broker.unsubscribe("ws:a")
            await broker.publish("ws:a", b"after")
            await broker.publish("ws:marker", b"end")
            delivered_before = len([item for item in received.items if item[0] == "ws:a"])
            await received.at_least(delivered_before + 1)
            await asyncio.sleep(impl.settle_seconds)
            assert [item for item in received.items if item[0] == "ws:a"] == [
                ("ws:a", str(n).encode()) for n in range(delivered_before)
            ]
            assert received.items[-1] == ("ws:marker", b"end")

    run(scenario)


def test_a_channel_subscribed_again_receives_only_new_messages(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.subscribe("ws:a")
            await broker.unsubscribe("ws:a")
            await broker.publish("ws:a", b"while away")
            await broker.subscribe("ws:a")
            await broker.publish("ws:a", b"back")
            await received.at_least(1)
            await asyncio.sleep(impl.settle_seconds)
            assert received.items == [("ws:a", b"back")]

    run(scenario)


def test_publishing_where_nobody_listens_is_harmless(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl) as [(broker, received)]:
            await broker.publish("ws:nobody", b"into the void")
            await broker.unsubscribe("ws:never-subscribed")
            await asyncio.sleep(impl.settle_seconds)
            assert received.items == []
            assert await broker.healthy()

    run(scenario)


def test_every_subscribed_node_receives_each_message_once(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl, impl.max_nodes) as nodes:
            for broker, _ in nodes:
                await broker.subscribe("ws:shared")
            publisher = nodes[0][0]
            for n in range(20):
                await publisher.publish("ws:shared", str(n).encode())
            for _, received in nodes:
                await received.at_least(20)
            await asyncio.sleep(impl.settle_seconds)
            for _, received in nodes:
                assert [payload for _, payload in received.items] == [str(n).encode() for n in range(20)]

    run(scenario)


def test_healthy_while_running_and_not_after_close(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        broker = impl.nodes(1)[0]
        await broker.start()
        assert await broker.healthy()
        await broker.close()
        assert not await broker.healthy()

    run(scenario)


def test_closing_ends_the_message_stream(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        broker = impl.nodes(1)[0]
        await broker.start()
        received = Received(broker)
        await broker.subscribe("ws:a")
        await broker.close()
        await asyncio.wait_for(received.ended.wait(), 2.0)

    run(scenario)


def test_close_does_not_block_on_a_backlog_nobody_reads(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        broker = impl.nodes(1)[0]
        await broker.start()
        await broker.subscribe("ws:a")

        async def flood() -> None:
            for n in range(20_000):
                await broker.publish("ws:a", str(n).encode())

        # Nobody consumes: an in-process broker's bounded queue fills and publishers wait.
        flooding = asyncio.create_task(flood())
        await asyncio.sleep(impl.settle_seconds)
        await asyncio.wait_for(broker.close(), 2.0)
        flooding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flooding

    run(scenario)


def test_a_node_cut_off_its_medium_subscribes_again_by_itself(impl: BrokerImplementation) -> None:
    async def scenario() -> None:
        async with started(impl, impl.max_nodes) as nodes:
            for broker, _ in nodes:
                await broker.subscribe("ws:a")
            publisher = nodes[0][0]
            await publisher.publish("ws:a", b"before")
            for _, received in nodes:
                await received.at_least(1)
            if impl.disrupt is not None:
                await impl.disrupt()
            # Nobody subscribes again: each node must come back on its own (what is published
            # while it is away may be lost; the log repairs that, not the broker).
            deadline = asyncio.get_running_loop().time() + 10
            while not all(any(p == b"after" for _, p in received.items) for _, received in nodes):
                assert asyncio.get_running_loop().time() < deadline, "a node never came back"
                with contextlib.suppress(Exception):
                    await publisher.publish("ws:a", b"after")
                await asyncio.sleep(0.1)
            for broker, _ in nodes:
                assert await broker.healthy()

    run(scenario)
