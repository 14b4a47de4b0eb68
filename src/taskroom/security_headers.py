"""Security headers on every HTTP answer of the node: the board's, the API's, errors and 404s.

A pure ASGI middleware, not Starlette's BaseHTTPMiddleware (which runs each request through an
extra task and memory streams): it only appends a few header lines to `http.response.start`.
WebSocket scopes pass through untouched, so the upgrade is not changed; a WebSocket refused
before its handshake (`websocket.http.response.start`) gets the headers like any answer.

The one policy (`content_security_policy`) fits the board: its scripts, styles and images are
its own files (styles set from JavaScript go through the CSSOM, which CSP allows), its icon is a
`data:` URL, and it talks to the node by fetch and by WebSocket. A response that already carries
a Content-Security-Policy keeps its own (the API docs pages set theirs, see `api_docs.py`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP_HEADER: Final = b"content-security-policy"

# The same on every answer. X-Frame-Options is for browsers that predate `frame-ancestors`.
STATIC_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # The board's own URLs carry workspace ids (and invitation tokens, in the fragment);
    # no other site needs to learn them.
    (b"referrer-policy", b"no-referrer"),
)

# Answers the HTTP layer writes itself (408, 413, 431), before any application code runs: the
# same headers, with a policy that allows nothing (they are JSON and never rendered).
REFUSAL_SECURITY_HEADERS: Final[tuple[bytes, ...]] = tuple(
    name + b": " + value + b"\r\n"
    for name, value in (*STATIC_HEADERS, (CSP_HEADER, b"default-src 'none'; frame-ancestors 'none'"))
)

# A Host header that is a plain name or address with an optional port: only such a value is
# put into the policy (anything else could add directives to it).
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def content_security_policy(host: str | None) -> str:
    """The board's and the API's policy. `host` is the request's Host header, or None.

    `connect-src 'self'` covers ws:/wss: of the same host in CSP 3, but not in every browser in
    use, so the WebSocket origins of the host the browser asked for are named too (both schemes:
    behind a proxy that ends TLS the node sees http while the browser speaks wss).
    """
    connect = "'self'"
    if host and _HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"font-src 'self'; connect-src {connect}; manifest-src 'self'; worker-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


@lru_cache(maxsize=256)  # one per Host a client sends; bounded, as the Host header is the client's
def _policy_header(host: bytes | None) -> bytes:
    text = host.decode("latin-1") if host is not None else None
    return content_security_policy(text).encode("latin-1")


class SecurityHeadersMiddleware:
    """Adds STATIC_HEADERS and a Content-Security-Policy to every answer that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                message["headers"] = _with_security_headers(scope, list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with_security_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    for name, value in STATIC_HEADERS:
        if name not in present:
            headers.append((name, value))
    if CSP_HEADER not in present:
        host = next((value for name, value in scope["headers"] if name == b"host"), None)
        headers.append((CSP_HEADER, _policy_header(host)))
    return headers
