"""One WebSocket's outbound side: frames appended in memory, written once per loop turn.

The hot path of a fan-out is `send`: it appends an already-framed `bytes` (built once for every
recipient, see `frames.text_frame`) to the connection's pending list and returns. A `Flusher`,
scheduled once per event-loop turn, then hands each touched connection's pending frames to its
transport in one write: ten events fanned out in one turn cost each connection one syscall,
not ten, and no task or event is woken per frame.

A reader that falls so far behind that what waits for it passes WS_MAX_BUFFERED_BYTES is a slow
consumer: what is pending is dropped and it is closed with 1013; it loses nothing, because it
resumes from the last seq it saw (the log has every event).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from ..edge.identity import Identity
from .frames import text_frame
from .protocol import CloseCode

# RFC 6455 §5.5: a close frame's reason fits in 123 bytes of UTF-8; a longer one cannot be sent at all.
MAX_CLOSE_REASON_BYTES = 123
# How often a paced sender looks again at a socket that drains below its high-water mark but
# not yet far enough for the next frame (no transport callback marks that moment).
_ROOM_POLL_SECONDS = 0.005


def close_reason(reason: str) -> str:
    return reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


class Link(Protocol):
    """What a connection needs of its socket (the transport protocol implements it)."""

    def writer(self) -> tuple[Callable[[bytes], None], Callable[[], int]]:
        """The socket's own `write(data)` and `unsent() -> bytes not yet taken by the kernel`.

        Called once: the flush calls them for every connection of every fan-out, so they are the
        transport's functions themselves, with no wrapper in between."""
        ...

    def send_close(self, code: int, reason: str) -> None: ...

    async def wait_writable(self) -> None:
        """Return once the socket is below its high-water mark (at once if it is)."""
        ...


class ReadableLink(Link, Protocol):
    """A link whose reading can be paused: a session slows a client that sends too fast."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Flusher:
    """Writes every connection touched since the last flush, once each, at the end of the turn.

    Under sustained load it waits longer between flushes: when a flush took more than
    `busy_after` seconds (a big room's worth of syscalls), the next one starts no sooner than
    `took * (1 + 2 * duty)` after it ended (at most `max_delay`), where `duty` is the share of
    recent time spent flushing. Frames that arrive meanwhile join the same write, so a node at its
    limit spends its time on fewer, larger writes instead of falling behind. Short flushes (small
    rooms), and long ones far apart (a big room at a few events a second), are not delayed: the
    next write happens at the end of the turn, adding no latency.
    """

    __slots__ = (
        "_busy_after",
        "_dirty",
        "_duty",
        "_last_start",
        "_loop",
        "_max_delay",
        "_not_before",
        "_scheduled",
    )

    def __init__(self, busy_after: float = 0.002, max_delay: float = 0.025) -> None:
        self._dirty: list[Connection] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy_after = busy_after
        self._max_delay = max_delay
        self._not_before = 0.0
        self._duty = 0.0  # moving average of the share of time spent flushing
        self._last_start = 0.0

    def mark(self, connection: Connection) -> None:
        self._dirty.append(connection)
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            if self._not_before and loop.time() < self._not_before:
                loop.call_at(self._not_before, self.flush)
            else:
                loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        loop = self._loop
        if loop is None:
            for connection in dirty:
                connection.flush()
            return
        started = loop.time()
        for connection in dirty:
            connection.flush()
        ended = loop.time()
        took = ended - started
        since = started - self._last_start if self._last_start else 1.0
        self._last_start = started
        self._duty = 0.8 * self._duty + 0.2 * min(1.0, took / since if since > 0 else 1.0)
        if took > self._busy_after:
            self._not_before = ended + min(took * (1 + 2 * self._duty), self._max_delay)
        else:
            self._not_before = 0.0


class Connection:
    """A connection's identity and outbound buffer; never waits in `send`.

    `rooms` is the set of workspaces this connection is in; only `Room` transitions change it.
    """

    __slots__ = (
        "_flusher",
        "_limit",
        "_link",
        "_on_slow_consumer",
        "_pending",
        "_queued",
        "_slow_reason",
        "_unsent",
        "_write",
        "closed_with",
        "closing",
        "id",
        "identity",
        "rooms",
        "user_id",
    )

    def __init__(
        self,
        link: Link,
        connection_id: str,
        max_buffered_bytes: int,
        flusher: Flusher,
        on_slow_consumer: Callable[[], None] = lambda: None,
        slow_reason: str = "slow consumer: resume from your last seq",
    ) -> None:
        self._link = link
        self.id = connection_id
        self.user_id: str | None = None
        # What the socket was admitted with (its session, its API key): see `revocations.py`.
        self.identity: Identity | None = None
        self.closed_with: tuple[int, str] | None = None  # the close this side sent, for the log
        self.rooms: set[str] = set()
        self.closing = False
        self._pending: list[bytes] = []  # kept and cleared: no allocation per frame sent
        self._queued = 0  # bytes in _pending
        self._write, self._unsent = link.writer()
        self._limit = max_buffered_bytes
        self._flusher = flusher
        self._on_slow_consumer = on_slow_consumer
        self._slow_reason = slow_reason  # what the 1013 tells the client (documents sync again)

    @property
    def limit(self) -> int:
        return self._limit

    def send(self, frame: bytes, *, oversize_ok: bool = False) -> None:
        """Queue one complete WebSocket frame; a no-op once the connection is closing.

        `oversize_ok` lets one frame larger than the bound through (a reset snapshot cannot be
        split); the caller waits for an empty socket first with `wait_for_room`.
        """
        if self.closing:
            return
        pending = self._pending
        if not pending:
            self._flusher.mark(self)
        pending.append(frame)
        self._queued += len(frame)
        if self._queued > self._limit and not (oversize_ok and self._queued == len(frame)):
            self._slow()

    def send_text(self, text: str, *, oversize_ok: bool = False) -> None:
        self.send(text_frame(text.encode()), oversize_ok=oversize_ok)

    def flush(self) -> None:
        """Hand what is pending to the socket in one write; a reader whose socket then holds
        more than the bound (it has not read for that long) is a slow consumer."""
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        queued, self._queued = self._queued, 0
        if self.closing:
            return
        self._write(data)
        if self._unsent() > self._limit and queued < self._limit:
            self._slow()

    def close(self, code: int, reason: str = "") -> None:
        """Close after the frames already queued (an ERROR then its close, in that order)."""
        if self.closing:
            return
        self.flush()
        self.closing = True
        self.closed_with = (code, reason)
        self._link.send_close(code, close_reason(reason))

    def abort(self, code: int, reason: str = "") -> None:
        """Close now, dropping whatever is still pending here."""
        if self.closing:
            return
        self._pending.clear()
        self._queued = 0
        self.closing = True
        self.closed_with = (code, reason)
        self._link.send_close(code, close_reason(reason))

    def close_status(self) -> tuple[int | None, str, str]:
        """How the socket ended, for its log line: (code, reason, "server" or "client")."""
        if self.closed_with is not None:
            return self.closed_with[0], self.closed_with[1], "server"
        # A link that is a websockets protocol (both endpoints under `taskroom serve`) knows the
        # close frame the client sent; any other says nothing.
        peer_close = getattr(self._link, "peer_close", None)
        received = peer_close() if callable(peer_close) else None
        if isinstance(received, tuple):
            return received[0], received[1], "client"
        return None, "connection lost", "client"

    def lost(self) -> None:
        """The socket is gone: drop everything and send nothing more."""
        self.closing = True
        self._pending.clear()
        self._queued = 0

    async def wait_for_room(self, size: int) -> None:
        """Wait until a frame of `size` bytes fits in half the bound, or the socket has drained.

        For a long series of frames sent at once (a resume's replay): it then goes at the reader's
        pace instead of passing the bound, which would close a reader that does nothing wrong.
        Returns at once when the connection is closing (what is sent then is dropped).
        """
        self.flush()
        while not self.closing:
            unsent = self._unsent()
            if not unsent or unsent + size <= self._limit // 2:
                return
            await self._link.wait_writable()
            if self._unsent() == unsent:
                await asyncio.sleep(_ROOM_POLL_SECONDS)

    def _slow(self) -> None:
        self._on_slow_consumer()
        self.abort(CloseCode.TRY_AGAIN_LATER, self._slow_reason)
