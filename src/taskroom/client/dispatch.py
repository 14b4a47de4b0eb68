"""Handler registration and in-order delivery to handlers.

Frames are handed over by the socket reader to one delivery task through a bounded queue, so
handlers run one at a time, in the order frames arrived, whether they are plain functions or
coroutines; a handler that is slow holds the reader back (and, past the bound, the server closes
the connection 1013 and the client resumes) instead of letting memory grow.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("taskroom.client")

# Keys of the client's own reports start with INTERNAL; frame types are words, so none clash.
INTERNAL = "\x00"
STATE_KEY = INTERNAL + "state"
_STOP = INTERNAL + "stop"

Handler = Callable[[Any], Awaitable[None] | None]


class Handlers:
    """Handlers by key (a frame type, or ``state``), each list in registration order."""

    def __init__(self) -> None:
        self._by_key: defaultdict[str, list[Handler]] = defaultdict(list)

    def add(self, key: str, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError("a handler must be callable")
        self._by_key[key].append(handler)

    def remove(self, key: str, handler: Handler) -> None:
        """Stop calling `handler` for `key`; a handler that is not registered is a ValueError."""
        self._by_key[key].remove(handler)

    def for_key(self, key: str) -> tuple[Handler, ...]:
        return tuple(self._by_key.get(key, ()))


ANY_FRAME = "*"  # handlers of every frame (not of state reports)


class Dispatcher:
    """Calls the handlers of each queued item, one item at a time, in queue order.

    A handler that raises is logged and does not stop the others or later items.
    """

    def __init__(self, handlers: Handlers, max_pending: int) -> None:
        self._handlers = handlers
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._deliver(), name="taskroom-dispatch")

    async def put(self, key: str, payload: Any) -> None:
        await self._queue.put((key, payload))

    def put_nowait(self, key: str, payload: Any) -> None:
        """Queue without waiting; past the bound the item is dropped with a warning (state reports only)."""
        try:
            self._queue.put_nowait((key, payload))
        except asyncio.QueueFull:
            logger.warning("handler queue full: %s report dropped", key)

    async def drain_and_stop(self) -> None:
        """Deliver what is queued, then stop.

        Called from a handler itself (a handler that disconnects), the delivery task stops after
        the items already queued without being waited for, since it is the caller.
        """
        task = self._task
        if task is None:
            return
        self._task = None
        inside = asyncio.current_task() is task
        if inside:
            try:
                self._queue.put_nowait((_STOP, None))
            except asyncio.QueueFull:
                task.cancel()  # no room to queue the stop: end at the handler's next await
            return
        if not task.done():
            await self._queue.join()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _deliver(self) -> None:
        while True:
            key, payload = await self._queue.get()
            if key == _STOP:
                self._queue.task_done()
                return
            try:
                handlers = self._handlers.for_key(key)
                if not key.startswith(INTERNAL):
                    handlers += self._handlers.for_key(ANY_FRAME)
                for handler in handlers:
                    try:
                        result = handler(payload)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:
                        logger.exception("a %s handler raised", key)
            finally:
                self._queue.task_done()
