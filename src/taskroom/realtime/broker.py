"""The fan-out seam between nodes: publish bytes to a channel; every subscriber node receives them.

Guarantees every implementation gives (checked by one shared test suite):
- a message published to a channel reaches each node subscribed to that channel at publish time,
  once, and messages of one publisher to one channel arrive in publish order;
- nothing is delivered for a channel after `unsubscribe` returns;
- delivery is best effort: a message may be lost (a node dies, a connection drops). The workspace
  log is the source of truth; the broker is only the fast path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol


class Broker(Protocol):
    # Whether other nodes may be subscribed (False: this process is the only one listening, and
    # what it publishes is delivered to itself without the broker).
    shared: bool

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """Everything received for subscribed channels, as (channel, payload); one consumer."""
        ...

    async def healthy(self) -> bool: ...


class MemoryBroker:
    """In-process broker for one node (the embedded default).

    Its queue is bounded: when the node's dispatcher falls that far behind, publishers wait
    (back-pressure on the writing request) instead of memory growing without limit.
    """

    shared = False

    def __init__(self, max_pending: int = 10_000) -> None:
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(max_pending)
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        self._channels.clear()
        # Wake the consumer so its iterator ends; drop what cannot fit rather than block shutdown.
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def publish(self, channel: str, payload: bytes) -> None:
        if not self._closed and channel in self._channels:
            await self._queue.put((channel, payload))

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            # A message queued before an unsubscribe is not delivered after it.
            if item[0] in self._channels:
                yield item

    async def healthy(self) -> bool:
        return not self._closed
