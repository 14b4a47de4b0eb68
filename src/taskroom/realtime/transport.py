"""`WS /api/v1/ws` served on the socket itself, beside the ASGI app on the same port.

uvicorn takes the WebSocket protocol class as a setting (`ws`). This one is uvicorn's sans-I/O
websockets protocol, with one change: an upgrade to the real-time path does not start an ASGI
application task. The handshake is answered here (Origin checked first), and from then on frames
go straight between the socket and the node's session for that connection: received text frames
are handed over as they are parsed, and the hub's frames are written to the transport directly.

Why: the ASGI path costs a task and a coroutine stack per connection for as long as it is open,
and a queue hop and several awaits per frame sent. A fan-out to thousands of connections spends
most of its time there, and an idle connection most of its memory. Every other path (REST, other
WebSocket routes) keeps going through the ASGI app unchanged, so the project still runs as a
plain FastAPI app and only this route needs the class (`taskroom serve` always sets it).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import unquote

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame
from websockets.http11 import Request

WS_PATH = "/api/v1/ws"
SESSIONS_STATE_KEY = "taskroom_sessions"  # the lifespan state entry that opens sessions
# The ASGI scope extension through which another WebSocket route (the document endpoint) writes
# its frames straight to this socket, as `/api/v1/ws` does: `{"link": <this protocol>}`.
LINK_EXTENSION = "taskroom.link"
logger = logging.getLogger(__name__)


class SessionSink(Protocol):
    """What the protocol hands received frames to (the session implements it)."""

    def on_text(self, data: bytes) -> None: ...

    def on_binary(self, data: bytes) -> None: ...

    def on_closing(self) -> None:
        """The socket is closing: nothing more may be written to it."""

    def on_disconnect(self) -> None: ...


class SessionOpener(Protocol):
    """Opens a session for each upgraded socket (the lifespan state carries one)."""

    def origin_allowed(self, origin: str | None) -> bool: ...

    def admit_pending(self, address: str) -> bool:
        """Count a socket from `address` as not yet authenticated, unless that address is at its cap."""

    def open(self, link: RealtimeWebSocketProtocol, address: str) -> SessionSink: ...


@functools.cache
def _trusted_proxies(allowed: str) -> Any:
    # uvicorn's own parsing of FORWARDED_ALLOW_IPS (addresses, networks, "*"), so that a socket
    # and a REST request from behind the same proxy get the same client address. Its
    # ProxyHeadersMiddleware applies it to ASGI scopes only, and this path bypasses ASGI.
    return ProxyHeadersMiddleware(_no_app, allowed).trusted_hosts


async def _no_app(*_: Any) -> None:  # the middleware is built only for its trusted-hosts check
    return None


class RealtimeWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink: SessionSink | None = None

    # --- the handshake --------------------------------------------------------------------------

    def handle_connect(self, event: Request) -> None:
        sessions: SessionOpener | None = self.app_state.get(SESSIONS_STATE_KEY)
        raw_path = event.path.partition("?")[0]
        if sessions is None or unquote(raw_path) != self.root_path + WS_PATH:
            super().handle_connect(event)
            scope = getattr(self, "scope", None)
            if scope is not None:  # handed to the ASGI app, which may take this protocol as its Link
                scope["extensions"][LINK_EXTENSION] = {"link": self}
            return
        self.handshake_initiated = True
        response = self.conn.accept(event)
        address = self.client_address(event)
        if response.status_code == 101 and not sessions.origin_allowed(event.headers.get("Origin")):
            response = self.conn.reject(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        elif response.status_code == 101 and not sessions.admit_pending(address):
            response = self.conn.reject(
                HTTPStatus.TOO_MANY_REQUESTS, "too many unauthenticated connections from this address\n"
            )
            response.headers["Retry-After"] = "1"
        if response.status_code != 101:
            self.handshake_complete = True
            self.close_sent = True
            self.conn.send_response(response)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
            return
        del response.headers["Date"]
        for name, value in self.default_headers:
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        self.handshake_complete = True
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.start_keepalive()
        self.sink = sessions.open(self, address)

    def client_address(self, event: Request) -> str:
        """The peer's address; behind a proxy uvicorn trusts (`--forwarded-allow-ips`,
        FORWARDED_ALLOW_IPS), the client it names in X-Forwarded-For, as for REST requests."""
        peer = self.client[0] if self.client else "unknown"
        forwarded = event.headers.get_all("X-Forwarded-For")
        if not forwarded or not self.config.proxy_headers:
            return peer
        allowed = self.config.forwarded_allow_ips
        trusted = _trusted_proxies(allowed if isinstance(allowed, str) else ",".join(allowed))
        if peer not in trusted:
            return peer
        return trusted.get_trusted_client_address(", ".join(forwarded))[0] or peer

    # --- frames in ------------------------------------------------------------------------------

    def send_receive_event_to_app(self) -> None:
        sink = self.sink
        if sink is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        if self.curr_msg_data_type == "text":
            sink.on_text(data)
        else:
            sink.on_binary(data)

    # Closes that start here rather than from the session: no data frame may follow the close frame.

    def handle_close(self, event: Frame) -> None:
        self._closing()
        super().handle_close(event)

    def keepalive_timeout(self) -> None:
        self._closing()
        super().keepalive_timeout()

    def handle_parser_exception(self) -> None:
        if self.sink is None:
            super().handle_parser_exception()
            return
        if self.close_sent:  # the rest of the peer's data, read and dropped (see below)
            return
        self._closing()
        # A frame over the size limit (or broken framing): websockets has queued the close frame
        # (1009, 1002, ...). uvicorn would write it and close the socket at once, but the rest of
        # that frame is still unread, and closing a socket with unread data makes the kernel send
        # a reset, which can destroy the close frame before the client reads it: the client sees
        # a dropped connection, not 1009. So: the close frame, then end of stream (half-close),
        # then read and discard until the client closes, or close_timeout passes.
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.stop_keepalive()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    def shutdown(self) -> None:
        self._closing()
        super().shutdown()

    def _closing(self) -> None:
        if self.sink is not None:
            self.sink.on_closing()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.on_disconnect()

    # --- the Link a Connection writes through ---------------------------------------------------

    def writer(self) -> tuple[Callable[[bytes], None], Callable[[], int]]:
        # The transport's own functions: the connection stops calling them once it closes, and
        # every close that does not start there tells it first (see `_closing`).
        return self.transport.write, self.transport.get_write_buffer_size

    def send_close(self, code: int, reason: str) -> None:
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        # The peer answers with its close frame; a peer that never does is cut off after this.
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    async def wait_writable(self) -> None:
        await self.writable.wait()

    def peer_close(self) -> tuple[int, str] | None:
        """The client's close frame (code, reason), if it sent one."""
        received = self.conn.close_rcvd
        return None if received is None else (int(received.code), received.reason)

    def pause_reading(self) -> None:
        if not self.read_paused and not self.close_sent and not self.disconnected:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused and not self.disconnected:
            self.read_paused = False
            self.transport.resume_reading()
