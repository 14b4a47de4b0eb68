"""uvicorn's httptools HTTP protocol, with a deadline and a size bound on each request's head.

uvicorn (0.54) times out only an idle keep-alive connection between two requests
(`timeout_keep_alive`): a connection that never sends a byte, or sends a request line and then
one header byte a minute, is kept for ever (slowloris), and httptools gathers a header value in
memory however long it grows. uvicorn offers no option for either on the httptools parser (its
`h11_max_incomplete_event_size` applies to the slower h11 parser only), so this subclass adds the
two smallest checks that close the gap:

- a timer per request head, armed when the connection opens and when a request begins, cancelled
  when its headers are complete: a head not complete in time gets 408 and the connection closes;
- a count of the bytes received while a head is incomplete, and of the parsed head's size: past
  the bound the request gets 431 and the connection closes, before any application code runs.
"""

from __future__ import annotations

import asyncio
import http
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Bytes a request line and its headers may take by default (nginx allows 32 KiB, Node.js 16 KiB).
DEFAULT_MAX_HEADER_BYTES = 65536
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds
LINGER_SECONDS = 2.0  # a refused connection is read (and dropped) this long before it closes


class HeadTooLarge(Exception):
    """Raised from a parser callback: the head is over the bound (httptools aborts the parse)."""


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    # Class attributes so that uvicorn can build the protocol with its usual arguments; `configured`
    # makes a subclass carrying a node's settings.
    header_timeout: ClassVar[float] = DEFAULT_HEADER_TIMEOUT
    max_header_bytes: ClassVar[int] = DEFAULT_MAX_HEADER_BYTES

    @classmethod
    def configured(cls, header_timeout: float, max_header_bytes: int) -> type[HeadLimitedHttpToolsProtocol]:
        return type(
            cls.__name__,
            (cls,),
            {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes},
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = True
        self._head_bytes = 0  # received while the current head is incomplete
        self._parsed_head_bytes = 0  # url and headers as parsed
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, plus the head bounds: its version answers every parser failure with 400.
        if self._refused:
            return  # the rest of a refused request, read only to be dropped (see `_refuse`)
        self._unset_keepalive_if_required()
        if self._awaiting_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        # Still no complete head, yet more bytes than a head may have. (A chunk that completes the
        # head and carries a body was measured by its parsed size in the callbacks instead.)
        if self._awaiting_head and self._head_bytes > self.max_header_bytes:
            self._refuse(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)

    # --- parser callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = True
        self._parsed_head_bytes = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_parsed(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What follows on this connection is the next request's head (or nothing: keep-alive).
        self._awaiting_head = True
        self._head_bytes = 0

    # --- the two bounds -------------------------------------------------------------------------

    def _count_parsed(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > self.max_header_bytes:
            raise HeadTooLarge

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            if self._head_bytes:
                self._refuse(http.HTTPStatus.REQUEST_TIMEOUT)
            else:  # nothing was asked: nothing to answer
                self.transport.close()

    def _refuse(self, status: http.HTTPStatus) -> None:
        self._disarm_head_timer()
        body = status.phrase.encode("ascii") + b"\n"
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii")]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(head))
        # Closing a socket with unread input makes the kernel send a reset, which can destroy
        # the answer before the client reads it. So: end our side, drop what still arrives,
        # and close once the client has had time to read (a "lingering close", as nginx does).
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
