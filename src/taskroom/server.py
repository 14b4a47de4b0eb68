"""Running one node under uvicorn, with the WebSocket settings of PROTOCOL §1 applied."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
import resource
import signal
import socket
import sys
import time
from typing import Any

import uvicorn

from . import logging_redaction
from .app import create_app
from .banner import banner_lines
from .http_limits import LimitedHttpToolsProtocol
from .node import Node
from .realtime.transport import RealtimeWebSocketProtocol
from .settings import Settings

logger = logging.getLogger(__name__)


class NodeServer(uvicorn.Server):
    """uvicorn's server, but a shutdown first closes every WebSocket with 1001 (going away).

    uvicorn itself would close them with 1012; clients are told to reconnect elsewhere and resume.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._announce()
        # Everything built so far (modules, the app, the node) lives as long as the process: out
        # of the collector's sight, so that its collections scan only what connections create.
        gc.freeze()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # main thread only
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, memory_report)

    def _announce(self) -> None:
        """The start-up banner, on uvicorn's own logger (shown at LOG_LEVEL info, as "Started server" is)."""
        settings = _find_settings(self.config.loaded_app)
        if settings is None:
            return
        port = self.config.port
        for server in self.servers:
            for bound in server.sockets:
                port = bound.getsockname()[1]  # the real one when asked for port 0
                break
        for line in banner_lines(settings, self.config.host, port):
            logging.getLogger("uvicorn.error").info("%s", line)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Stop accepting first, as uvicorn would: a client told to go away must not get back in here.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        node = _find_node(self.config.loaded_app)
        if node is not None:
            await node.hub.close_all()
            await node.documents.close_all()
        await super().shutdown(sockets)


def memory_report() -> None:
    """SIGUSR1: a full garbage collection, then the memory figures in the log.

    With the thresholds below, the connections that closed (each a few cycles of protocol
    objects) are freed by rare full collections, so between two of them memory says little
    about leaks. Collecting on request shows what is really alive (`make soak` does this).
    """
    started = time.perf_counter()
    freed = gc.collect()
    # uvicorn's own logger: the one a node's log shows at LOG_LEVEL info, as "Started server" is.
    logging.getLogger("uvicorn.error").info(
        "memory report: full collection freed %d objects in %.0f ms; %d Python blocks allocated, "
        "%d asyncio tasks, RSS %s",
        freed,
        (time.perf_counter() - started) * 1000,
        sys.getallocatedblocks(),
        len(asyncio.all_tasks()),
        _rss(),
    )


def _rss() -> str:
    try:
        with open("/proc/self/status") as status:
            return next((line.split(":", 1)[1].strip() for line in status if line.startswith("VmRSS")), "?")
    except OSError:  # not Linux
        return "?"


def _find_node(app: Any) -> Node | None:
    # loaded_app is wrapped in uvicorn's middlewares; walk down to ours.
    while app is not None:
        state = getattr(app, "state", None)
        node = getattr(state, "node", None) if state is not None else None
        if isinstance(node, Node):
            return node
        app = getattr(app, "app", None)
    return None


def _find_settings(app: Any) -> Settings | None:
    node = _find_node(app)
    return node.settings if node is not None else None


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup, plus `taskroom.auth` (edge/audit.py) on its stderr handler at
    LOG_LEVEL: the lines operators read about sign-ins and sockets show beside uvicorn's own."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["taskroom.auth"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def uvicorn_config(settings: Settings, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    ping_interval = settings.ws_ping_interval_seconds
    # A peer that answers no ping within what is left of WS_CONNECTION_TIMEOUT is dropped.
    ping_timeout = max(0.5, settings.ws_connection_timeout_seconds - ping_interval)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        # REST through httptools, with a deadline and a size bound on every request head and body.
        "http": LimitedHttpToolsProtocol.configured(
            header_timeout=settings.http_header_timeout_seconds,
            max_header_bytes=settings.http_max_header_bytes,
            body_timeout=settings.http_body_timeout_seconds,
            max_body_bytes=settings.http_max_body_bytes,
            cors_origins=settings.cors_origins,
        ),
        # WS /api/v1/ws straight on the socket; every other path through the ASGI app.
        "ws": RealtimeWebSocketProtocol,
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": ping_interval,
        "ws_ping_timeout": ping_timeout,
        # Compression is per connection: it would re-encode every fanned-out frame once per reader.
        "ws_per_message_deflate": False,
        "log_level": settings.log_level,
        "log_config": log_config(settings.log_level),
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        # TLS on this socket when a certificate is set: HTTPS and wss:// on the same port.
        "ssl_certfile": settings.ssl_certfile,
        "ssl_keyfile": settings.ssl_keyfile,
    }
    options.update(overrides)
    config = uvicorn.Config(create_app(settings), **options)
    # After uvicorn set its loggers up: the document endpoint's query carries a token.
    logging_redaction.install()
    return config


# Cyclic garbage collection every 50,000 allocations instead of 700 (older generations in the
# same proportion): tens of thousands of connections are long-lived objects that every full
# collection walks, and an authentication storm allocates fast. Measured in docs/benchmarks.md.
GC_THRESHOLDS = (50_000, 20, 20)


# Descriptors a node needs beside its WebSockets: the listening socket, database files and
# connections, the broker, REST clients.
SPARE_FILE_DESCRIPTORS = 1024


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files towards `wanted` (never past the hard limit,
    never down); returns the limit in force. Many systems start processes at 1,024, which would
    cap a node far below WS_MAX_CONNECTIONS."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def serve(settings: Settings, host: str, port: int) -> None:
    limit = raise_open_files_limit(settings.ws_max_connections + SPARE_FILE_DESCRIPTORS)
    if limit < settings.ws_max_connections + SPARE_FILE_DESCRIPTORS:
        logger.warning(
            "open-files limit is %d (hard limit): fewer than WS_MAX_CONNECTIONS=%d connections fit",
            limit,
            settings.ws_max_connections,
        )
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        NodeServer(uvicorn_config(settings, host, port)).run()
    except KeyboardInterrupt:
        # uvicorn re-raises the SIGINT it handled once the node has shut down. Ctrl-C is how a
        # node in a terminal is stopped: a clean stop exits 0, so `make run` reports no error.
        return
