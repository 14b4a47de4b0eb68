"""Nodes and a Redis as real processes, for tests that kill them (SIGKILL, SIGTERM) or restart them.

The threaded servers of `servers.py` cannot die the way a machine does; these can.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from taskroom.db.migrate import upgrade
from tests.support.databases import IN_CI
from tests.support.servers import TEST_SETTINGS, LoopbackAddresses

TASKROOM = Path(sys.executable).with_name("taskroom")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_environment(database_url: str, **settings: Any) -> dict[str, str]:
    """The environment of a `taskroom serve` process: the tests' settings plus `settings`; a
    setting given as None is unset, even when this process's environment has it."""
    merged = {**TEST_SETTINGS, "database_url": database_url, **settings}
    env = {**os.environ, **{name.upper(): str(value) for name, value in merged.items() if value is not None}}
    for name in (name.upper() for name, value in merged.items() if value is None):
        env.pop(name, None)
    return env


class NodeProcess(LoopbackAddresses):
    """`taskroom serve` in a process of its own, on a port it keeps across restarts."""

    def __init__(self, database_url: str, **settings: Any) -> None:
        self.port = free_port()
        self.node_id = settings.setdefault("node_id", f"node-{self.port}")
        self._env = node_environment(database_url, **settings)
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the node; closed in stop()
        upgrade(database_url)  # a PostgreSQL node refuses to serve a schema that is behind
        self.start()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30) -> None:
        self._process = subprocess.Popen(
            [str(TASKROOM), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self._env,
            # Both streams, into one file (not a pipe: nobody reads it while the node runs):
            # uvicorn writes its access lines to stdout, its other lines to stderr.
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                self._log.seek(0)
                said = self._log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"node {self.node_id} exited with {self._process.returncode}: {said}")
            try:
                if httpx.get(f"{self.base_url}/api/v1/ws/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.node_id} did not become healthy")
            time.sleep(0.05)

    def log_text(self) -> str:
        """Everything the node wrote to stdout and stderr so far (over its restarts)."""
        # pread: the node writes through the same file offset, which seeking would move.
        fd = self._log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: gone at once, no goodbye to anyone."""
        self._signal(signal.SIGKILL)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM: a graceful stop; returns the exit code."""
        self._signal(signal.SIGTERM, timeout)
        assert self._process is not None
        return int(self._process.returncode)

    def _signal(self, number: int, timeout: float = 30) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(number)
        self._process.wait(timeout)

    def stop(self) -> None:
        if self.alive:
            self.kill()
        self._log.close()


class RedisProcess:
    """A Redis of the test's own, which it may stop and start again on the same port.

    The shared Redis of 127.0.0.1:6379 serves every other test at the same time; restarting it
    would break them, so a test that restarts Redis runs its own `redis-server`.
    """

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if IN_CI:
                pytest.fail("redis-server is not installed")
            pytest.skip("redis-server is not installed")
        self._binary = binary
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (OSError, redis.RedisError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    stop = kill
