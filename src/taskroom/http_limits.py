"""uvicorn's httptools HTTP protocol, with a deadline and a size bound on each request's head and body.

uvicorn (0.54) times out only an idle keep-alive connection between two requests
(`timeout_keep_alive`): a connection that never sends a byte, or sends a request line and then
one header byte a minute, is kept for ever (slowloris), and httptools gathers a header value in
memory however long it grows. A body is not bounded either: the app reads all of it (a 50 MiB
login costs hundreds of MiB before it is refused), and a body that trickles in is waited for
without end. uvicorn offers no option for any of this on the httptools parser (its
`h11_max_incomplete_event_size` applies to the slower h11 parser only), so this subclass adds the
smallest checks that close the gap:

- a timer per request head, armed when the connection opens and when a request begins, cancelled
  when its headers are complete: a head not complete in time gets 408 and the connection closes;
- a count of the bytes received while a head is incomplete, and of the parsed head's size: past
  the bound the request gets 431 and the connection closes, before any application code runs;
- a `Content-Length` over the body bound gets 413 as soon as the head is complete, before any
  of the body is read or any application code runs;
- a count of the body bytes as the parser hands them over (chunked or not): past the bound the
  request gets 413 and the connection closes, so no more than the bound is ever buffered;
- a timer per request body, armed when the head is complete, cancelled when the body is: a body
  not complete in time gets 408 and the connection closes.

These live here rather than in an ASGI middleware (FastAPI's `max_body_size` among them) because
the protocol sees bytes as they arrive: it can refuse before the app runs and close the
connection instead of reading an oversized body to the end to discard it, and the deadline needs
the connection, which a middleware never sees. Every refusal carries the API's error shape
(`{"error": {"code", "message"}}`, PROTOCOL §2), and the CORS headers a request of an origin in
CORS_ALLOWED_ORIGINS would get from the app (`cors_refusal_headers`), so that a page of that origin
can read a 413 instead of seeing a network failure. WebSocket upgrades are held to the head bounds
only: once upgraded, their frames are bounded by the WebSocket settings.
"""

from __future__ import annotations

import asyncio
import http
import json
from collections.abc import Collection
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import get_client_addr

from .cors import CORS_PATH_PREFIXES
from .security_headers import REFUSAL_SECURITY_HEADERS

# Bytes a request line and its headers may take by default (nginx allows 32 KiB, Node.js 16 KiB).
DEFAULT_MAX_HEADER_BYTES = 65536
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds
# The body bounds of PROTOCOL §2 (HTTP_MAX_BODY_BYTES, HTTP_BODY_TIMEOUT).
DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_BODY_TIMEOUT = 30.0  # seconds
LINGER_SECONDS = 2.0  # a refused connection is read (and dropped) this long before it closes


class Refused(Exception):
    """Raised from a parser callback: the request breaks a bound (httptools aborts the parse)."""

    status = http.HTTPStatus.BAD_REQUEST


class HeadTooLarge(Refused):
    status = http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


class BodyTooLarge(Refused):
    status = http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE


# The error code and message of each refusal.
_ERRORS: dict[http.HTTPStatus, tuple[str, str]] = {
    http.HTTPStatus.REQUEST_TIMEOUT: ("REQUEST_TIMEOUT", "the request did not arrive in time"),
    http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: (
        "HEADERS_TOO_LARGE",
        "the request line and headers are larger than {max_header_bytes} bytes",
    ),
    http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE: (
        "PAYLOAD_TOO_LARGE",
        "the request body is larger than {max_body_bytes} bytes",
    ),
}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    # Class attributes so that uvicorn can build the protocol with its usual arguments; `configured`
    # makes a subclass carrying a node's settings.
    header_timeout: ClassVar[float] = DEFAULT_HEADER_TIMEOUT
    max_header_bytes: ClassVar[int] = DEFAULT_MAX_HEADER_BYTES
    body_timeout: ClassVar[float] = DEFAULT_BODY_TIMEOUT
    max_body_bytes: ClassVar[int] = DEFAULT_MAX_BODY_BYTES
    cors_origins: ClassVar[frozenset[bytes]] = frozenset()

    @classmethod
    def configured(
        cls,
        *,
        header_timeout: float,
        max_header_bytes: int,
        body_timeout: float,
        max_body_bytes: int,
        cors_origins: Collection[str] = (),
    ) -> type[LimitedHttpToolsProtocol]:
        return type(
            cls.__name__,
            (cls,),
            {
                "header_timeout": header_timeout,
                "max_header_bytes": max_header_bytes,
                "body_timeout": body_timeout,
                "max_body_bytes": max_body_bytes,
                "cors_origins": frozenset(origin.encode("latin-1") for origin in cors_origins),
            },
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = True
        self._head_bytes = 0  # received while the current head is incomplete
        self._parsed_head_bytes = 0  # url and headers as parsed
        self._body_timer: asyncio.TimerHandle | None = None
        self._reading_body = False  # between a request's head and the end of its body
        self._body_bytes = 0  # of the current request, as parsed (chunk framing not counted)
        self._request_line: tuple[str, str, str] | None = None  # for the access log of a refusal
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._disarm_body_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, plus the bounds: its version answers every parser failure with 400.
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
            if isinstance(exc.__context__, Refused):
                self._refuse(exc.__context__.status)
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
        self._request_line = None
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
        self._request_line = (
            self.parser.get_method().decode("ascii", "replace"),
            self.url.decode("latin-1"),
            self.parser.get_http_version(),
        )
        upgrade = self.parser.should_upgrade() and self._should_upgrade()
        # Refused before uvicorn starts the app: nothing of the body is read, no code runs.
        # (httptools has already rejected a malformed, repeated or chunked-and-sized length.)
        if not upgrade and self._declared_body_bytes() > self.max_body_bytes:
            raise BodyTooLarge
        super().on_headers_complete()
        if not upgrade:
            self._reading_body = True
            self._body_bytes = 0
            self._body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        if self._reading_body:
            self._body_bytes += len(body)
            if self._body_bytes > self.max_body_bytes:
                raise BodyTooLarge  # before uvicorn buffers it
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._request_line = None
        self._disarm_body_timer()
        super().on_message_complete()
        # What follows on this connection is the next request's head (or nothing: keep-alive).
        self._awaiting_head = True
        self._head_bytes = 0

    # --- the bounds -----------------------------------------------------------------------------

    def _count_parsed(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > self.max_header_bytes:
            raise HeadTooLarge

    def _declared_body_bytes(self) -> int:
        for name, value in self.headers:
            if name == b"content-length":
                return int(value)
        return 0  # chunked, or no body: counted as it arrives

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _disarm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            if self._head_bytes:
                self._refuse(http.HTTPStatus.REQUEST_TIMEOUT)
            else:  # nothing was asked: nothing to answer
                self.transport.close()

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self._reading_body and not self.transport.is_closing():
            self._refuse(http.HTTPStatus.REQUEST_TIMEOUT)

    def _refuse(self, status: http.HTTPStatus) -> None:
        self._disarm_head_timer()
        self._disarm_body_timer()
        cycle = self.cycle if self._reading_body else None
        self._reading_body = False
        self._refused = True
        if cycle is not None:
            # The app is already running for this request: it must not see the rest of a body
            # that broke a bound. As disconnected, its `receive` answers `http.disconnect` and
            # whatever it sends is dropped, so the handler never runs on a partial body.
            answered = cycle.response_started
            cycle.disconnected = True
            cycle.message_event.set()
            if answered:
                # It answered without waiting for the body (a 404, say): no second answer.
                self.transport.close()
                return
        self.transport.write(self._refusal(status))
        self._log_refusal(status)
        # Closing a socket with unread input makes the kernel send a reset, which can destroy
        # the answer before the client reads it. So: end our side, drop what still arrives,
        # and close once the client has had time to read (a "lingering close", as nginx does).
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _log_refusal(self, status: http.HTTPStatus) -> None:
        # The line uvicorn writes for an answered request, so that refusals of a complete head
        # show in the access log like any answer (its filter redacts tokens in the query).
        if self.access_log and self._request_line is not None:
            method, target, version = self._request_line
            client = get_client_addr(self.scope) if self.scope else ""
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', client, method, target, version, status.value)

    def _refusal(self, status: http.HTTPStatus) -> bytes:
        code, message = _ERRORS[status]
        text = message.format(max_header_bytes=self.max_header_bytes, max_body_bytes=self.max_body_bytes)
        body = json.dumps({"error": {"code": code, "message": text}}).encode("utf-8")
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii")]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: application/json\r\n",
                *REFUSAL_SECURITY_HEADERS,
                *cors_refusal_headers(self.cors_origins, getattr(self, "url", b""), self.headers or []),
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        return b"".join(head)


def cors_refusal_headers(
    allowed: frozenset[bytes], target: bytes, headers: list[tuple[bytes, bytes]]
) -> list[bytes]:
    """The header lines CORSMiddleware (cors.py) would add for this request, which it never sees:
    the origin, when it is listed and the path is one that answers other origins; else none."""
    if not allowed or not target.startswith(tuple(p.encode("ascii") for p in CORS_PATH_PREFIXES)):
        return []
    origin = next((value for name, value in headers if name.lower() == b"origin"), None)
    if origin not in allowed:
        return []
    return [b"access-control-allow-origin: " + origin + b"\r\n", b"vary: Origin\r\n"]
