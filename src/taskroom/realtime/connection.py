"""One WebSocket's outbound side: a bounded buffer and the task that drains it.

Writers (the hub's fan-out) never wait: `send` appends the already-encoded frame and returns.
A reader that falls so far behind that the buffer passes WS_MAX_BUFFERED_BYTES is a slow
consumer: its buffer is dropped and it is closed with 1013; it loses nothing, because it
resumes from the last seq it saw (the log has every event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from starlette.websockets import WebSocket

from .protocol import CloseCode

logger = logging.getLogger(__name__)

# RFC 6455 §5.5: a close frame's reason fits in 123 bytes of UTF-8; a longer one cannot be sent at all.
MAX_CLOSE_REASON_BYTES = 123


def _close_reason(reason: str) -> str:
    return reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


class _Close:
    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = _close_reason(reason)


class Connection:
    def __init__(
        self,
        websocket: WebSocket,
        connection_id: str,
        max_buffered_bytes: int,
        on_slow_consumer: Callable[[], None] = lambda: None,
    ) -> None:
        self.websocket = websocket
        self.id = connection_id
        self.user_id: str | None = None
        self.closing = False
        self._queue: deque[str | _Close] = deque()
        self._buffered = 0
        self._limit = max_buffered_bytes
        self._wake = asyncio.Event()
        self._room = asyncio.Event()  # set whenever the queue shrinks or the connection closes
        self._on_slow_consumer = on_slow_consumer
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sender = asyncio.create_task(self._drain(), name=f"ws-send-{self.id}")

    @property
    def limit(self) -> int:
        return self._limit

    def send(self, frame: str, *, oversize_ok: bool = False) -> None:
        """Queue a frame; never waits. A no-op once the connection is closing.

        `oversize_ok` lets one frame larger than the bound through (a reset snapshot cannot be
        split); the caller waits for an empty queue first with `wait_for_room`.
        """
        if self.closing:
            return
        self._buffered += len(frame)
        if self._buffered > self._limit and not (oversize_ok and self._buffered == len(frame)):
            self._on_slow_consumer()
            self.abort(CloseCode.TRY_AGAIN_LATER, "slow consumer: resume from your last seq")
            return
        self._queue.append(frame)
        self._wake.set()

    def close(self, code: int, reason: str = "") -> None:
        """Close after the frames already queued (an ERROR then its close, in that order)."""
        if self.closing:
            return
        self.closing = True
        self._queue.append(_Close(code, reason))
        self._wake.set()
        self._room.set()

    def abort(self, code: int, reason: str = "") -> None:
        """Close now, dropping whatever is still queued."""
        if self._closer is not None:
            return
        self.closing = True
        self._queue.clear()
        self._buffered = 0
        self._room.set()
        if self._sender is not None:
            # Safe: uvicorn's send is cancelled while waiting for the socket to drain, before writing.
            self._sender.cancel()
        self._closer = asyncio.create_task(self._close_now(code, reason), name=f"ws-close-{self.id}")

    async def wait_for_room(self, size: int) -> None:
        """Wait until a frame of `size` bytes fits in half the bound, or the queue is empty.

        For a long series of frames sent at once (a resume's replay): it then goes at the reader's
        pace instead of passing the bound, which would close a reader that does nothing wrong.
        Returns at once when the connection is closing (what is sent then is dropped).
        """
        while not self.closing and self._buffered and self._buffered + size > self._limit // 2:
            self._room.clear()
            await self._room.wait()

    async def stop(self) -> None:
        """The socket is gone: stop sending."""
        self.closing = True
        self._room.set()
        for task in (self._sender, self._closer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _drain(self) -> None:
        send = self.websocket.send_text
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    item = self._queue.popleft()
                    if isinstance(item, _Close):
                        self._queue.clear()
                        await self.websocket.close(item.code, item.reason)
                        return
                    self._buffered -= len(item)
                    self._room.set()
                    await send(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-send; the reader sees the disconnect
            logger.debug("send failed on %s", self.id, exc_info=True)
            self.closing = True
            self._room.set()

    async def _close_now(self, code: int, reason: str) -> None:
        # Waits for the socket to accept the close frame: a stalled reader gets it when it reads
        # again; a dead one is dropped by the keepalive timeout, which ends this wait too.
        with contextlib.suppress(Exception):
            await self.websocket.close(code, _close_reason(reason))
