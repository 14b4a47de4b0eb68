"""Fixtures of the real-time tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.api import Api
from tests.support.servers import RunningServer


@pytest.fixture
def api_factory() -> Iterator[Callable[[RunningServer], Api]]:
    """A REST client for a private node (`node_factory`); closed after the test."""
    clients: list[Api] = []

    def make(server: RunningServer) -> Api:
        client = Api(server.api)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
