"""Fixtures of the Python client's tests: nodes in this process, and nodes as real processes.

A node as a process (`taskroom serve`) is what a test kills with SIGKILL and starts again on the
same port; its JWT secret is fixed and its SQLite file kept, so tokens and data survive.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskroom.db.migrate import upgrade
from tests.support.servers import TEST_SETTINGS, RunningServer, start_server

TASKROOM = Path(sys.executable).with_name("taskroom")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NodeProcess:
    """`taskroom serve` on a fixed port and database, started and stopped at will."""

    def __init__(self, workdir: Path, database_url: str | None = None, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = workdir / f"node-{self.port}.log"
        self.database_url = database_url or f"sqlite:///{workdir / 'node.db'}"
        upgrade(self.database_url)  # PostgreSQL is migrated by the operator; SQLite would do it itself
        self._env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "JWT_SECRET": TEST_SETTINGS["jwt_secret"],
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "1024",
            "LOG_LEVEL": "warning",
            **env,
        }
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 30) -> None:
        assert self._process is None or self._process.poll() is not None, "already running"
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(TASKROOM), "serve", "--port", str(self.port)], env=self._env, stderr=log, stdout=log
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            assert self._process.poll() is None, f"the node exited: {self._log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/api/v1/ws/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the node did not come up"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no close frames, whatever was in flight is cut."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=30)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def log_text(self) -> str:
        return self._log.read_text(errors="replace")


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Makes a started `taskroom serve` process on its own SQLite file or on `database_url`
    (other settings as environment variables); stopped after the test."""
    made: list[NodeProcess] = []

    def make(database_url: str | None = None, **env: str) -> NodeProcess:
        node = NodeProcess(tmp_path, database_url, **env)
        made.append(node)
        node.start()
        return node

    yield make
    for node in made:
        node.stop()


@pytest.fixture
def sqlite_node_factory(database_factory: Callable[[str], str]) -> Iterator[Callable[..., RunningServer]]:
    """A node in this process on a fresh SQLite database, with the given settings."""
    started: list[RunningServer] = []

    def make(**overrides: Any) -> RunningServer:
        server = start_server(database_factory("sqlite"), **overrides)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def sqlite_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One node with default settings shared by a module's tests (each makes its own users)."""
    server = start_server(f"sqlite:///{tmp_path_factory.mktemp('client-db') / 'node.db'}")
    yield server
    server.stop()
