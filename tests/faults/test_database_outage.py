"""PostgreSQL lost for a while under a running node: clear 503s, then back to normal, nothing lost.

The node reaches its database through a relay the test cuts (connections refused, open sessions
broken, as when the database host restarts) and restores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.support.api import Api, ApiUser
from tests.support.databases import create_postgres_database, drop_postgres_database, require_postgres
from tests.support.servers import RunningServer, start_server
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually
from tests.support.ws import WsClient


@dataclass
class RelayedNode:
    node: RunningServer
    relay: TcpProxy


@pytest.fixture
def relayed_node() -> Iterator[RelayedNode]:
    require_postgres()
    direct = create_postgres_database()
    parts = urlsplit(direct)
    relay = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    netloc = f"{parts.username}@127.0.0.1:{relay.port}" if parts.username else f"127.0.0.1:{relay.port}"
    node = start_server(urlunsplit(parts._replace(netloc=netloc)))
    try:
        yield RelayedNode(node, relay)
    finally:
        relay.restore()
        node.stop()
        relay.close()
        drop_postgres_database(direct)


def _health(node: RunningServer) -> httpx.Response:
    return httpx.get(f"{node.api}/ws/health", timeout=30)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "database" in error["message"]
    assert int(response.headers["Retry-After"]) >= 1


def test_rest_answers_503_while_the_database_is_away_and_recovers_without_loss_or_phantom_events(
    relayed_node: RelayedNode,
) -> None:
    node, relay = relayed_node.node, relayed_node.relay
    api = Api(node.api)
    try:
        owner: ApiUser = api.register("Owner")
        workspace = owner.create_workspace()
        before = [owner.create_task(workspace["id"], f"before {i}") for i in range(3)]

        with WsClient(node.ws_url) as watcher:
            joined = watcher.authenticate(owner.token, workspaceIds=[workspace["id"]])
            seq_at_join = joined["workspaces"][0]["seq"]

            relay.cut()
            _assert_unavailable(owner.post(f"/workspaces/{workspace['id']}/tasks", json={"title": "lost 1"}))
            _assert_unavailable(owner.patch(f"/tasks/{before[0]['id']}", json={"title": "lost rename"}))
            _assert_unavailable(owner.delete(f"/tasks/{before[1]['id']}"))
            _assert_unavailable(owner.get(f"/workspaces/{workspace['id']}/tasks"))
            down = _health(node)
            assert down.status_code == 503
            assert down.json()["status"] == "degraded"
            assert down.json()["checks"]["database"] == "down"
            # The same keep-alive HTTP connection still serves after the failures.
            _assert_unavailable(owner.post(f"/workspaces/{workspace['id']}/tasks", json={"title": "lost 2"}))

            relay.restore()
            eventually(lambda: _health(node).status_code, lambda status: status == 200, timeout=30)
            after = owner.create_task(workspace["id"], "after")

            live = watcher.recv_events(1)
            assert live[0]["type"] == "TASK_CREATED"
            assert live[0]["data"]["task"]["id"] == after["id"]
            assert live[0]["seq"] == seq_at_join + 1  # no event of any failed write came first

        rows = owner.get(f"/workspaces/{workspace['id']}/tasks").json()["items"]
        assert sorted(t["title"] for t in rows) == ["after", "before 0", "before 1", "before 2"]
        untouched = owner.get(f"/tasks/{before[0]['id']}").json()
        assert (untouched["title"], untouched["version"]) == ("before 0", before[0]["version"])

        log = owner.get(f"/workspaces/{workspace['id']}/events", params={"since": 0, "limit": 1000}).json()
        seqs = [event["seq"] for event in log["events"]]
        assert seqs == list(range(1, log["latestSeq"] + 1))
        created = [event["data"]["task"]["id"] for event in log["events"] if event["type"] == "TASK_CREATED"]
        assert sorted(created) == sorted(t["id"] for t in rows)
        assert all(event["type"] != "TASK_DELETED" for event in log["events"])
        assert all(event["type"] != "TASK_UPDATED" for event in log["events"])
    finally:
        api.close()
