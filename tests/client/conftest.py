"""Fixtures of the Python client's tests: nodes in this process, and nodes as real processes.

A node as a process (`taskroom serve`, tests/support/processes.py) is what a test kills with
SIGKILL and starts again on the same port; its JWT secret is fixed and its database kept, so
tokens and data survive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import NodeProcess
from tests.support.servers import RunningServer, start_server


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Makes a started `taskroom serve` process on its own SQLite file or on `database_url`,
    with the tests' fixed JWT secret (other settings as keywords); killed after the test."""
    made: list[NodeProcess] = []

    def make(database_url: str | None = None, **settings: Any) -> NodeProcess:
        node = NodeProcess(database_url or f"sqlite:///{tmp_path / 'node.db'}", **settings)
        made.append(node)
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
