"""A real node (uvicorn + the app) on a real loopback socket, in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from taskroom.db.migrate import upgrade
from taskroom.server import NodeServer, uvicorn_config
from taskroom.settings import Settings

# Cheap password hashing keeps hundreds of registrations fast; production keeps argon2's defaults.
TEST_SETTINGS: dict[str, Any] = {
    "jwt_secret": "test-secret-that-is-long-enough-for-hs256-0123456789",
    "argon2_time_cost": 1,
    "argon2_memory_kib": 1024,
    "log_level": "warning",
    # Every test registers from 127.0.0.1 and some add many members; the tests of these limits
    # start their own nodes with small ones.
    "register_max_per_client": 1_000_000,
    "member_add_max_per_minute": 1_000_000,
}

T = TypeVar("T")


class LoopbackAddresses:
    """The addresses of what serves Taskroom on a loopback port: a node, or a proxy in front of nodes."""

    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"


@dataclass
class RunningServer(LoopbackAddresses):
    settings: Settings
    port: int
    server: NodeServer
    thread: threading.Thread

    @property
    def app_state(self) -> Any:
        """The running app's state (its services), for tests that inspect the node itself."""
        return self.server.config.loaded_app.app.state  # type: ignore[union-attr]

    def run_on_loop(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the node's own event loop and wait for its result.

        The node's database engine and services belong to that loop (asyncpg connections cannot
        cross loops), so node internals such as `app_state.services.prune()` must run there.
        """
        loop = self.server.servers[0].get_loop()
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)

    def call(self, coro_fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
        """`run_on_loop` for a coroutine function: the coroutine is created for, and runs on, the node's loop."""

        async def on_loop() -> T:
            return await coro_fn()

        return self.run_on_loop(on_loop(), timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(
    database_url: str, port: int = 0, uvicorn_options: dict[str, Any] | None = None, **overrides: Any
) -> RunningServer:
    """A node on `port` (0: a free one); a restarted node binds the port its predecessor had.
    `uvicorn_options` change uvicorn's own configuration (another WebSocket protocol class)."""
    settings = Settings(**{**TEST_SETTINGS, "database_url": database_url, **overrides})
    upgrade(database_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = NodeServer(uvicorn_config(settings, "127.0.0.1", port, **(uvicorn_options or {})))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"node-{port}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return RunningServer(settings, port, server, thread)


@contextlib.contextmanager
def running_server(database_url: str, **overrides: Any) -> Iterator[RunningServer]:
    node = start_server(database_url, **overrides)
    try:
        yield node
    finally:
        node.stop()
