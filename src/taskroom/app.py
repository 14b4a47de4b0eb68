"""The app factory: `create_app(settings)` wires storage, services and the real-time layer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

from . import __version__
from .api import (
    api_keys,
    auth,
    comments,
    documents,
    health,
    invitations,
    notifications,
    tasks,
    webhooks,
    workspaces,
)
from .api_docs import mount_api_docs
from .board import mount_board
from .cors import CrossOriginAccess
from .db.availability import database_unavailable
from .errors import ApiError
from .node import build_node
from .realtime.transport import SESSIONS_STATE_KEY
from .security_headers import SecurityHeadersMiddleware
from .settings import Settings
from .static_assets import CLIENT_DIR, ClientFiles

logger = logging.getLogger(__name__)

# Seconds a client is told to wait when the database cannot be reached (503).
DATABASE_RETRY_AFTER = 2

_HTTP_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}

# Answers smaller than this go out as they are: the hot REST answers (a task, an event, health)
# are a few hundred bytes, where gzip saves little and costs a compressor per response.
GZIP_MINIMUM_BYTES = 1024
# zlib's own default: for JSON and JavaScript level 9 is slower for a few per cent less.
GZIP_LEVEL = 6


class TaskroomApp(FastAPI):
    """FastAPI with the security headers, then CORS, outside every other layer.

    Starlette puts its error middleware (the one that answers 500) outside all added
    middleware, so a middleware added the usual way would miss the 500 answers (and a page of
    another origin would see a 500 as a network failure).
    """

    def __init__(self, *, cors_origins: Collection[str] = (), **options: Any) -> None:
        self.cors_origins = tuple(cors_origins)
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.cors_origins:
            # Outside GZip, so that its `Vary: Accept-Encoding` and CORS's `Vary: Origin` add up.
            stack = CrossOriginAccess(stack, self.cors_origins)
        return SecurityHeadersMiddleware(stack)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # Before uvicorn listens: under a plain `uvicorn` command line (no `taskroom serve` to
        # check first) a production node without JWT_SECRET still fails to start.
        settings.signing_key  # noqa: B018
        if settings.redis_url:
            logger.info(
                "REDIS_URL is set: events, presence, typing and cursors cross nodes through Redis, "
                "and presence, connection and rate limits are counted there for the whole service"
            )
        node = build_node(settings)
        app.state.node = node
        app.state.services = node.services
        await node.start()
        maintenance = asyncio.create_task(_maintain(node.services.prune, settings), name="log-retention")
        try:
            # The lifespan state reaches the WebSocket protocol, which opens sessions on the socket.
            yield {SESSIONS_STATE_KEY: node.sessions}
        finally:
            maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await maintenance
            await node.stop()

    docs = settings.api_docs_enabled  # API_DOCS_ENABLED=false: no /docs, /redoc or /openapi.json
    app = TaskroomApp(
        cors_origins=settings.cors_origins,
        title="Taskroom",
        version=__version__,
        lifespan=lifespan,
        # /docs and /redoc are served with their files by the node (api_docs.py), not from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    # Compression of HTTP answers only: WebSocket scopes pass through it untouched.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL)
    _install_error_handlers(app)
    for router in (
        auth.router,
        workspaces.router,
        invitations.router,
        api_keys.router,
        tasks.router,
        comments.router,
        notifications.router,
        documents.router,
        webhooks.router,
    ):
        app.include_router(router, prefix="/api/v1")
    app.include_router(health.router)
    if docs:
        mount_api_docs(app)
    app.mount("/client", ClientFiles(directory=CLIENT_DIR), name="client")
    if settings.metrics_enabled:
        app.include_router(health.metrics_router)
    # WS /api/v1/ws is served by the WebSocket protocol itself (realtime/transport.py), not a route.
    # The web board at `/` comes last and serves only paths that no other route claims.
    mount_board(app.router.routes)
    return app


async def _maintain(prune: Any, settings: Settings) -> None:
    """Prune the log now and then; a failure is logged and retried next round."""
    interval = min(3600.0, max(1.0, settings.ws_event_retention_seconds / 10))
    while True:
        try:
            removed = await prune()
            if removed:
                logger.info("pruned %d log events past retention", removed)
        except Exception:  # keep the node up; the next round tries again
            logger.exception("log pruning failed")
        await asyncio.sleep(interval)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(part) for part in err["loc"][1:]) or str(err["loc"][0]),
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse(
            {"error": {"code": "VALIDATION_ERROR", "message": message, "fields": fields}}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The framework's only 400: a body its JSON reader fails on other than by syntax
            # (bytes that are not UTF-8, nesting too deep, a number of thousands of digits). It
            # is a bad body like malformed JSON, which answers 422 (PROTOCOL §2).
            message = "could not be read as JSON (not UTF-8, nested too deep, or a number too long)"
            return JSONResponse(
                {
                    "error": {
                        "code": "VALIDATION_ERROR",
                        "message": f"body: {message}",
                        "fields": [{"field": "body", "message": message}],
                    }
                },
                status_code=422,
            )
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    # Handled here rather than by the catch-all below, which also re-raises to uvicorn (and so
    # drops the client's keep-alive connection) after answering. A connection the database
    # refuses surfaces unwrapped (asyncpg's OSError); the only other sockets a request touches
    # are the broker's, whose failures never reach a request (REST keeps serving without Redis).
    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    async def database_error(_request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            logger.warning("database unavailable: %s", getattr(exc, "orig", None) or exc)
            return JSONResponse(
                {
                    "error": {
                        "code": "SERVICE_UNAVAILABLE",
                        "message": "the database is unavailable; retry shortly",
                    }
                },
                status_code=503,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
            )
        logger.exception("unhandled error", exc_info=exc)
        return _internal_error_response()

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return _internal_error_response()


def _internal_error_response() -> JSONResponse:
    return JSONResponse({"error": {"code": "INTERNAL", "message": "internal server error"}}, status_code=500)
