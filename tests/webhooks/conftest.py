"""Nodes whose webhooks may reach receivers on loopback, with short back-offs for the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer

# Loopback receivers need WEBHOOK_ALLOW_PRIVATE; back-offs of milliseconds keep retries quick.
FAST_WEBHOOKS: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_retry_initial_interval": 50,
    "webhook_retry_max_interval": 200,
    "webhook_timeout": 2000,
}


@pytest.fixture
def hook_node(node_factory: Callable[..., RunningServer]) -> Callable[..., RunningServer]:
    def make(**overrides: Any) -> RunningServer:
        return node_factory(**{**FAST_WEBHOOKS, **overrides})

    return make


@pytest.fixture
def api_of() -> Iterator[Callable[[RunningServer], Api]]:
    clients: list[Api] = []

    def make(server: RunningServer) -> Api:
        client = Api(server.api)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def create_hook(user: ApiUser, workspace_id: str, url: str, **body: Any) -> dict[str, Any]:
    response = user.post(f"/workspaces/{workspace_id}/webhooks", json={"url": url, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def hook_state(user: ApiUser, workspace_id: str, hook_id: str) -> dict[str, Any]:
    response = user.get(f"/workspaces/{workspace_id}/webhooks/{hook_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())
