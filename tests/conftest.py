"""Fixtures: one real node per database backend, shared by the tests of a session.

Every test makes its own users and workspaces (random emails), so tests never see each other's
data and need no cleanup between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import Api
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
    sqlite_url,
)
from tests.support.servers import RunningServer, start_server

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """Makes a fresh, empty database of the given backend; PostgreSQL ones are dropped at the end."""
    created: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return sqlite_url(tmp_path_factory.mktemp("db"))
        require_postgres()
        url = create_postgres_database()
        created.append(url)
        return url

    yield make
    for url in created:
        drop_postgres_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def node(backend: str, database_factory: Callable[[str], str]) -> Iterator[RunningServer]:
    """The shared node of this backend, with default settings."""
    server = start_server(database_factory(backend))
    yield server
    server.stop()


@pytest.fixture
def api(node: RunningServer) -> Iterator[Api]:
    client = Api(node.api)
    yield client
    client.close()


@pytest.fixture
def node_factory(
    database_factory: Callable[[str], str], backend: str
) -> Iterator[Callable[..., RunningServer]]:
    """A private node with its own settings (small limits, short timeouts) on a fresh database."""
    started: list[RunningServer] = []

    def make(**overrides: Any) -> RunningServer:
        server = start_server(database_factory(backend), **overrides)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def private_http(node_factory: Callable[..., RunningServer]) -> Iterator[Callable[..., httpx.Client]]:
    """An HTTP client of a private node started with the given settings."""
    clients: list[httpx.Client] = []

    def make(**overrides: Any) -> httpx.Client:
        client = httpx.Client(base_url=node_factory(**overrides).api, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path
