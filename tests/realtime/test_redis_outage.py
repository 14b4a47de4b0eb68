"""Three nodes through two Redis outages: one switch to local mode and one back, per outage.

The nodes are real processes on one PostgreSQL and a Redis of the test's own, reached through a
TCP relay. The first outage cuts the relay (Redis keeps its data: every node's last beat in it
is old when the link returns); the second kills Redis and starts it again empty. After each,
every node must be back in shared mode exactly once, healthy, with the users' presence as it was
(nobody announced offline), and the login throttle must have let through no more failures over
the whole outage than its limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.api import Api, ApiUser
from tests.support.processes import NodeProcess, RedisProcess
from tests.support.redis_service import fresh_prefix
from tests.support.tcp_proxy import TcpProxy
from tests.support.ws import WsClient

HEARTBEAT_MS = 1000  # liveness lapses after two: an outage of three is long enough to lapse
LAPSE_SECONDS = 3 * HEARTBEAT_MS / 1000
LOGIN_LIMIT = 5
WRONG = "not the password"


@dataclass
class Service:
    redis: RedisProcess
    relay: TcpProxy
    nodes: list[NodeProcess]


@pytest.fixture(scope="module")
def service(database_factory: Callable[[str], str]) -> Iterator[Service]:
    redis_server = RedisProcess()
    relay = TcpProxy("127.0.0.1", redis_server.port)
    nodes: list[NodeProcess] = []
    try:
        settings = {
            "redis_url": f"redis://127.0.0.1:{relay.port}/0",
            "redis_prefix": fresh_prefix(),
            "ws_heartbeat_interval": HEARTBEAT_MS,
            "login_max_failures": LOGIN_LIMIT,
        }
        database_url = database_factory("postgres")
        nodes.extend(NodeProcess(database_url, **settings) for _ in range(3))
        yield Service(redis_server, relay, nodes)
    finally:
        for node in nodes:
            node.stop()
        relay.close()
        redis_server.stop()


def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def redis_mode(node: NodeProcess) -> dict[str, Any]:
    metrics = httpx.get(f"{node.api}/ws/metrics", timeout=5).json()
    return dict(metrics["redis"])


def health(node: NodeProcess) -> int:
    return httpx.get(f"{node.api}/ws/health", timeout=5).status_code


def login(node: NodeProcess, email: str) -> int:
    response = httpx.post(f"{node.api}/auth/login", json={"email": email, "password": WRONG}, timeout=10)
    assert response.status_code in (401, 429), response.text
    return response.status_code


def failures_until_refused(node: NodeProcess, email: str) -> int:
    """Wrong passwords on one node until it answers 429; how many it let through (401)."""
    for let_through in range(LOGIN_LIMIT * 3 + 1):
        if login(node, email) == 429:
            return let_through
    raise AssertionError(f"{node.node_id} never refused")


def offline_about(client: WsClient, user_id: str) -> list[dict[str, Any]]:
    client.quiet(0.3)  # whatever is still on its way
    return [
        frame
        for frame in client.received
        if frame["type"] == "USER_PRESENCE"
        and frame["data"]["userId"] == user_id
        and frame["data"]["status"] == "offline"
    ]


def presence_seen_on(node: NodeProcess, user: ApiUser, workspace_id: str) -> dict[str, str]:
    with WsClient(node.ws_url) as client:
        client.authenticate(user.token, workspaceIds=[workspace_id])
        state = client.recv_type("PRESENCE_STATE")["data"]
    return {entry["userId"]: entry["status"] for entry in state["users"]}


def back_and_steady(service: Service, outages: int) -> None:
    """Every node returns to shared mode, once per outage so far, and stays healthy past the
    moment a node back from an outage could first sweep the others (when it would have counted
    their old beats as dead)."""
    for node in service.nodes:
        eventually(lambda node=node: redis_mode(node)["mode"] == "shared", f"{node.node_id} stayed local")
    settle_until = time.monotonic() + LAPSE_SECONDS
    while time.monotonic() < settle_until:
        assert [health(node) for node in service.nodes] == [200, 200, 200]
        time.sleep(0.1)
    for node in service.nodes:
        assert redis_mode(node) == {"mode": "shared", "changes": {"local": outages, "shared": outages}}


def test_after_each_redis_outage_the_nodes_return_to_shared_mode_once_with_presence_and_limits_kept(
    service: Service,
) -> None:
    a, b, c = service.nodes
    for node in service.nodes:
        assert redis_mode(node) == {"mode": "shared", "changes": {"local": 0, "shared": 0}}
    api = Api(a.api)
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob)
    with WsClient(a.ws_url, max_queue=None) as watcher, WsClient(b.ws_url, max_queue=None) as bob_on_b:
        watcher.authenticate(alice.token, workspaceIds=[workspace_id])
        bob_on_b.authenticate(bob.token, workspaceIds=[workspace_id])
        eventually(lambda: presence_seen_on(c, alice, workspace_id).get(bob.id) == "online", "bob not online")

        # 1. The link to Redis is cut; Redis keeps every key, the nodes' old beats among them.
        carol = api.register("Carol").email
        assert login(a, carol) == 401  # one failure counted in Redis before the cut
        service.relay.cut()
        for node in service.nodes:
            eventually(lambda node=node: health(node) == 503, f"{node.node_id} did not see the cut")
        through_outage = sum(failures_until_refused(node, carol) for node in service.nodes)
        time.sleep(LAPSE_SECONDS)  # long enough for every node's liveness in Redis to lapse
        service.relay.restore()
        back_and_steady(service, outages=1)
        after = failures_until_refused(b, carol)
        assert 1 + through_outage + after == LOGIN_LIMIT
        assert offline_about(watcher, bob.id) == []
        assert presence_seen_on(c, alice, workspace_id).get(bob.id) == "online"

        # 2. Redis dies and comes back empty: what the nodes hold is written to it again.
        dave = api.register("Dave").email
        assert [login(a, dave), login(a, dave)] == [401, 401]
        service.redis.kill()
        for node in service.nodes:
            eventually(lambda node=node: health(node) == 503, f"{node.node_id} did not see Redis die")
        through_outage = sum(failures_until_refused(node, dave) for node in service.nodes)
        service.redis.start()
        back_and_steady(service, outages=2)
        after = failures_until_refused(c, dave)
        assert 2 + through_outage + after == LOGIN_LIMIT
        assert offline_about(watcher, bob.id) == []
        assert presence_seen_on(a, alice, workspace_id).get(bob.id) == "online"
