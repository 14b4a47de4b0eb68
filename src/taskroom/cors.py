"""Answers to pages of other origins (PROTOCOL §5.5): `CORS_ALLOWED_ORIGINS`, on REST, `/client/*` and
the health check.

Starlette's CORSMiddleware does the work. Two things it cannot be configured for are added here:
- it applies to every path; the board, the API docs and `/metrics` stay same-origin only, so only
  the paths of CORS_PATH_PREFIXES reach it;
- it answers a refused preflight 400 with its `Access-Control-Allow-Methods` and `-Headers` lines
  whatever the origin; an origin not listed gets no CORS header at all, so such a preflight is
  answered here, with only `Vary`.
Every other answer on those paths carries `Vary: Origin` from Starlette, for any origin or none, so
a cache (the browser's, a proxy's) never hands one origin's answer to another; an ETag's 304 passes
through it the same way.

No credentials mode: requests authenticate with `Authorization: Bearer`, which a page sends on its
own; cookies are never needed cross-origin. WebSocket scopes pass untouched: the handshake is
checked against WS_ALLOWED_ORIGINS by the endpoints themselves.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# REST and health live under /api/v1 (the WebSocket endpoints too, but they are not HTTP scopes).
CORS_PATH_PREFIXES: Final = ("/api/v1/", "/client/")
ALLOWED_METHODS: Final = ("GET", "HEAD", "POST", "PATCH", "DELETE")
# The request headers of PROTOCOL §2 a page sets; Starlette adds the CORS-safelisted ones.
ALLOWED_HEADERS: Final = ("Authorization", "Content-Type", "Idempotency-Key")
# Seconds a browser may keep a preflight's answer (Chromium caps it at 7200).
PREFLIGHT_MAX_AGE: Final = 600

_PREFLIGHT_VARY: Final = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


class CrossOriginAccess:
    """CORSMiddleware for `origins` on CORS_PATH_PREFIXES; every other scope goes straight to `app`."""

    def __init__(self, app: ASGIApp, origins: Collection[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=sorted(self.origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(CORS_PATH_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if preflight and origin is not None and origin not in self.origins:
            refused = PlainTextResponse(
                "Disallowed CORS origin", status_code=400, headers={"Vary": _PREFLIGHT_VARY}
            )
            await refused(scope, receive, send)
            return
        await self.cors(scope, receive, send)
