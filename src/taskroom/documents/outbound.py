"""A document connection's outbound side: the same `Connection` as `/api/v1/ws`.

A frame sent to a document's readers is framed once (`frames.binary_frame`) and appended to each
reader's `Connection`; the node's document `Flusher` then writes every touched connection once
per loop turn. No task or event is woken per frame. A reader whose backlog passes its bound is a
slow consumer: closed 1013, its client syncs again when it reconnects (the document lost nothing).

Under `taskroom serve` the socket is uvicorn's protocol object, handed to the route in the
`taskroom.link` scope extension, and the connection writes to its transport directly. Under
another runner there is no such object: `AsgiLink` then unwraps the frames again and sends them
through ASGI from one task, so the endpoint still works, at the old cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from ..realtime.connection import Connection, Flusher, Link
from ..realtime.frames import binary_frame
from ..realtime.transport import LINK_EXTENSION

_LEN16 = struct.Struct("!H")
_LEN64 = struct.Struct("!Q")
# How long the fallback link may take to write its close frame when the connection ends.
_CLOSE_GRACE_SECONDS = 1.0


class SocketPeer:
    """A client connection as a document sees it (`shared.Peer`)."""

    __slots__ = ("awareness_ids", "can_edit", "closed", "connection", "user_id")

    def __init__(self, link: Link, max_buffered: int, flusher: Flusher, user_id: str, can_edit: bool) -> None:
        self.connection = Connection(
            link, uuid.uuid4().hex, max_buffered, flusher, self._closed_here, slow_reason="too far behind"
        )
        self.connection.user_id = user_id
        self.user_id = user_id
        self.can_edit = can_edit
        self.awareness_ids: set[int] = set()
        # Done once the server closed the connection: its reading stops then, not at the client's answer.
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _closed_here(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    @property
    def closing(self) -> bool:
        return self.connection.closing

    def send(self, message: bytes) -> None:
        """One y-websocket message to this peer alone (a reply, its welcome)."""
        self.connection.send(binary_frame(message))

    def send_frame(self, frame: bytes) -> None:
        """A frame built once for every peer of a broadcast."""
        self.connection.send(frame)

    def close(self, code: int, reason: str) -> None:
        # What is still queued is dropped: the client syncs again when it reconnects.
        self.connection.abort(code, reason)
        self._closed_here()

    def close_after_queued(self, code: int, reason: str) -> None:
        self.connection.close(code, reason)
        self._closed_here()


def socket_link(websocket: WebSocket) -> Link:
    """The accepted socket as a `Link`: uvicorn's protocol object, or the ASGI fallback."""
    extension: dict[str, Any] = websocket.scope.get("extensions", {}).get(LINK_EXTENSION) or {}
    protocol = extension.get("link")
    if protocol is not None:
        return _GuardedLink(protocol)
    return AsgiLink(websocket)


class _GuardedLink:
    """uvicorn's protocol object, with writes to a socket that is already closing dropped: the
    disconnect reaches this connection through the ASGI queue, a little after the socket went."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._transport = protocol.transport

    def writer(self) -> tuple[Callable[[bytes], None], Callable[[], int]]:
        return self._write, self._transport.get_write_buffer_size

    def _write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def send_close(self, code: int, reason: str) -> None:
        self._protocol.send_close(code, reason)

    async def wait_writable(self) -> None:
        await self._protocol.wait_writable()

    def peer_close(self) -> tuple[int, str] | None:
        peer_close = getattr(self._protocol, "peer_close", None)
        received = peer_close() if callable(peer_close) else None
        return received if isinstance(received, tuple) else None


async def finish(link: Link) -> None:
    """The connection is over: let the fallback link write what it still holds, its close first."""
    if isinstance(link, AsgiLink):
        await link.finish()


class AsgiLink:
    """A `Link` through ASGI `websocket.send`: the frames a `Connection` writes, sent one by one
    from one task (the path of another runner than `taskroom serve`)."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._buffer = bytearray()
        self._close: tuple[int, str] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def writer(self) -> tuple[Callable[[bytes], None], Callable[[], int]]:
        return self._write, self._unsent

    def _write(self, data: bytes) -> None:
        self._buffer += data
        self._start()

    def _unsent(self) -> int:
        return len(self._buffer)

    def send_close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
            self._start()

    async def wait_writable(self) -> None:
        return None

    def _start(self) -> None:
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="document-writer")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._buffer:
                await self._websocket.send_bytes(self._take())
            if self._close is not None:
                code, reason = self._close
                await self._websocket.close(code, reason)
                return

    def _take(self) -> bytes:
        """The payload of the first frame in the buffer (an unmasked, unfragmented frame)."""
        buffer = self._buffer
        size = buffer[1] & 0x7F
        head = 2
        if size == 126:
            size, head = _LEN16.unpack_from(buffer, 2)[0], 4
        elif size == 127:
            size, head = _LEN64.unpack_from(buffer, 2)[0], 10
        payload = bytes(buffer[head : head + size])
        del buffer[: head + size]
        return payload

    async def finish(self) -> None:
        task = self._task
        if task is None:
            return
        if not task.done() and self._close is not None:
            # Our close is on its way; give it the time a close frame takes, no more.
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(task), _CLOSE_GRACE_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
