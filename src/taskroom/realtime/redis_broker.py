"""The broker of a service of many nodes: Redis pub/sub (redis-py's asyncio client).

The same contract as `MemoryBroker` (see `broker.py`, checked by the same suite): bytes in, bytes
out, one consumer, order kept per channel and publisher, nothing after `unsubscribe` returns,
best effort. Channel names get `prefix` so that several services (or tests) share one Redis.

Redis gone for a while: `publish` fails (the caller logs it; the log still has every committed
event), `subscribe` is remembered, and the consumer reconnects by itself with a capped back-off,
subscribes again to every channel it should hear, and goes on. Whatever was published meanwhile
is lost here; every node's safety net reads it from the log. When the pub/sub connection is lost
the publishing pool's connections go too: they were opened before the outage, and each dead one
found by a publish or by the health check's ping would be one more failure after Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from ..redis_state import client

logger = logging.getLogger(__name__)

_READ_TIMEOUT = 1.0  # seconds one read waits for a message before looking around again
_RETRY_FIRST, _RETRY_MAX = 0.1, 2.0  # back-off of the consumer while Redis is away
_PING_TIMEOUT = 1.0


class RedisBroker:
    shared = True

    def __init__(self, url: str, prefix: str = "taskroom:") -> None:
        # A publish waits about a second at most: a REST write publishes after its commit, and
        # a Redis that stopped answering must not hold the answer up (the log repairs the loss).
        self._redis = client(url)
        self._prefix = prefix
        self._channels: set[str] = set()  # what this node should hear, whatever Redis knows
        self._pubsub: PubSub | None = None
        self._wanted = asyncio.Event()  # set while there is a channel to listen to
        self._connecting = asyncio.Lock()  # one pub/sub connection at a time
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        self._channels.clear()
        self._wanted.set()  # wake the consumer so that its stream ends
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await _close(self._pubsub)
            self._pubsub = None
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()

    async def publish(self, channel: str, payload: bytes) -> None:
        if self._closed:
            return
        try:
            await self._redis.publish(self._prefix + channel, payload)
        except (RedisError, OSError):
            if not self._closed:  # cut off by close(): nothing was promised for it
                raise

    async def subscribe(self, channel: str) -> None:
        if self._closed or channel in self._channels:
            return
        self._channels.add(channel)
        self._wanted.set()
        try:
            # On the wire before this returns, so that what is published from now on reaches us.
            if self._pubsub is None:
                await self._listen()
            else:
                await self._pubsub.subscribe(self._prefix + channel)
        except (RedisError, OSError):
            # Redis is away: the consumer subscribes to every wanted channel when it is back.
            logger.warning("subscribe to %s failed; retried when Redis is back", channel)

    async def unsubscribe(self, channel: str) -> None:
        # Forgotten here first: what is already on its way for the channel is dropped on arrival.
        self._channels.discard(channel)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._prefix + channel)

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        retry = _RETRY_FIRST
        while not self._closed:
            if not self._channels:
                self._wanted.clear()
                await self._wanted.wait()
                continue
            try:
                if self._pubsub is None:
                    await self._listen()
                assert self._pubsub is not None
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=_READ_TIMEOUT
                )
                retry = _RETRY_FIRST
            except (RedisError, OSError) as exc:
                if self._closed:
                    return
                logger.warning("Redis pub/sub lost (%s); reconnecting in %.1f s", exc, retry)
                await self._drop_pubsub()
                with contextlib.suppress(RedisError, OSError):
                    await self._redis.connection_pool.disconnect()
                await asyncio.sleep(retry)
                retry = min(retry * 2, _RETRY_MAX)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()[len(self._prefix) :]
            if channel in self._channels:
                yield channel, message["data"]

    async def healthy(self) -> bool:
        if self._closed:
            return False
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), _PING_TIMEOUT))
        except (RedisError, OSError, TimeoutError):
            return False

    async def _listen(self) -> None:
        """A pub/sub connection subscribed to every channel this node should hear."""
        async with self._connecting:
            if self._pubsub is not None or not self._channels:
                return
            pubsub = self._redis.pubsub()
            subscribed = set(self._channels)
            try:
                await pubsub.subscribe(*(self._prefix + channel for channel in sorted(subscribed)))
                # Channels wanted, or given up, while that was on its way.
                if late := self._channels - subscribed:
                    await pubsub.subscribe(*(self._prefix + channel for channel in sorted(late)))
                if gone := subscribed - self._channels:
                    await pubsub.unsubscribe(*(self._prefix + channel for channel in sorted(gone)))
            except BaseException:
                with contextlib.suppress(RedisError, OSError):
                    await _close(pubsub)
                raise
            self._pubsub = pubsub

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await _close(pubsub)


async def _close(pubsub: PubSub) -> None:
    # redis-py leaves PubSub.aclose without annotations; this is its one call site.
    await pubsub.aclose()  # type: ignore[no-untyped-call]
