"""Three nodes on one PostgreSQL and one Redis keep presence and limits as one service (PROTOCOL §1,
§3.3, §3.5): who is present, and how much a user may do, does not depend on the node they use.

The node that is killed runs in a process of its own (`taskroom serve`), so that it can be
SIGKILLed: it says nothing to Redis on its way out, and the others must find out by themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.realtime.clients import joined
from tests.support.api import Api, ApiUser
from tests.support.processes import NodeProcess
from tests.support.redis_keys import drop_keys
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis
from tests.support.servers import RunningServer, start_server
from tests.support.waiting import eventually
from tests.support.ws import WsClient

HEARTBEAT_MS = 500
# "Within three heartbeats", waited for with room to spare on a busy test machine.
DEAD_NODE_DEADLINE = 20.0
PASSWORD = "correct horse battery"


@dataclass
class Cluster:
    database_url: str
    prefix: str
    settings: dict[str, Any]
    nodes: list[RunningServer]
    processes: list[NodeProcess]

    def start_process_node(self) -> NodeProcess:
        """A fourth node of the service, in a process of its own (one that can be SIGKILLed)."""
        node = NodeProcess(self.database_url, redis_url=REDIS_URL, redis_prefix=self.prefix, **self.settings)
        self.processes.append(node)
        return node


@pytest.fixture
def cluster(database_factory: Callable[[str], str]) -> Iterator[Callable[..., Cluster]]:
    """`cluster(**settings)`: three nodes on one fresh PostgreSQL database and one Redis key prefix."""
    require_redis()
    made: list[Cluster] = []

    def make(**settings: Any) -> Cluster:
        settings = {"ws_heartbeat_interval": HEARTBEAT_MS, **settings}
        database_url = database_factory("postgres")
        prefix = fresh_prefix()
        nodes = [
            start_server(database_url, redis_url=REDIS_URL, redis_prefix=prefix, **settings) for _ in range(3)
        ]
        made.append(Cluster(database_url, prefix, settings, nodes, []))
        return made[-1]

    yield make
    for cluster in made:
        for process in cluster.processes:
            process.stop()
        for node in cluster.nodes:
            node.stop()
        drop_keys(REDIS_URL, cluster.prefix)


@pytest.fixture
def rest() -> Iterator[Callable[[Any], Api]]:
    clients: list[Api] = []

    def make(node: Any) -> Api:
        clients.append(Api(node.api))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def next_presence_of(client: WsClient, user_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The data of the next USER_PRESENCE about `user_id` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = client.recv_type("USER_PRESENCE", timeout=max(0.01, deadline - time.monotonic()))
        if frame["data"]["userId"] == user_id:
            return dict(frame["data"])


def present(client: WsClient) -> dict[str, str]:
    """The PRESENCE_STATE this (just joined) connection received, as {userId: status}."""
    frame = next(f for f in client.received if f["type"] == "PRESENCE_STATE")
    return {user["userId"]: user["status"] for user in frame["data"]["users"]}


def workspace_of(owner: ApiUser, *members: ApiUser) -> str:
    workspace_id = str(owner.create_workspace()["id"])
    for member in members:
        owner.add_member(workspace_id, member)
    return workspace_id


# --- presence -----------------------------------------------------------------------------------


def test_presence_on_one_node_is_seen_on_the_others(
    cluster: Callable[..., Cluster], rest: Callable[[Any], Api]
) -> None:
    one, two, three = cluster().nodes
    api = rest(one)
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = workspace_of(alice, bob)
    with joined(two, bob, expect=1) as bob_on_two:
        assert present(bob_on_two) == {bob.id: "online"}
        with joined(one, alice, expect=1) as alice_on_one:
            assert next_presence_of(bob_on_two, alice.id)["status"] == "online"
            with joined(three, bob, expect=1) as bob_on_three:
                assert present(bob_on_three) == {alice.id: "online", bob.id: "online"}
            alice_on_one.send("USER_PRESENCE", {"workspaceId": workspace_id, "status": "busy"})
            assert next_presence_of(bob_on_two, alice.id)["status"] == "busy"
            with joined(three, bob, expect=1) as bob_on_three:
                assert present(bob_on_three) == {alice.id: "busy", bob.id: "online"}
        assert next_presence_of(bob_on_two, alice.id)["status"] == "offline"


def test_a_killed_nodes_users_go_offline_for_the_others_and_leave_no_ghost(
    cluster: Callable[..., Cluster], rest: Callable[[Any], Api]
) -> None:
    service = cluster()
    one, two, _ = service.nodes
    victim = service.start_process_node()
    api = rest(one)
    alice, bob, carol = api.register("Alice"), api.register("Bob"), api.register("Carol")
    workspace_of(alice, bob, carol)
    with (
        joined(one, bob, expect=1) as watcher,
        joined(victim, alice, expect=1),  # only on the node that dies
        joined(victim, carol, expect=1),  # on the node that dies ...
        joined(two, carol, expect=1),  # ... and on one that lives
    ):
        assert next_presence_of(watcher, alice.id)["status"] == "online"
        assert next_presence_of(watcher, carol.id)["status"] == "online"
        victim.kill()
        gone = next_presence_of(watcher, alice.id, timeout=DEAD_NODE_DEADLINE)
        assert gone["status"] == "offline"
        # Carol is still connected on node two: nobody is told she left, whoever swept (what a
        # sweep announces goes out together, so a short wait shows anything it would have said).
        watcher.quiet(HEARTBEAT_MS / 1000)
        assert [
            frame
            for frame in watcher.received
            if frame["type"] == "USER_PRESENCE" and frame["data"]["userId"] == carol.id
        ][1:] == []
        with joined(two, bob, expect=1) as newcomer:
            assert present(newcomer) == {bob.id: "online", carol.id: "online"}


def test_presence_lost_by_redis_is_written_back_by_the_nodes_heartbeats(
    cluster: Callable[..., Cluster], rest: Callable[[Any], Api]
) -> None:
    service = cluster()
    one, two, _ = service.nodes
    api = rest(one)
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_of(alice, bob)
    with joined(one, alice, expect=1):
        # Redis loses everything it held (a restart without persistence).
        drop_keys(REDIS_URL, service.prefix)

        def seen_from_two() -> dict[str, str]:
            with joined(two, bob, expect=1) as newcomer:
                return present(newcomer)

        assert eventually(seen_from_two, lambda users: alice.id in users, timeout=DEAD_NODE_DEADLINE) == {
            alice.id: "online",
            bob.id: "online",
        }


# --- limits -------------------------------------------------------------------------------------


def authenticate_or_close_code(node: Any, user: ApiUser) -> tuple[WsClient, int | None]:
    """Connect and authenticate; the client and None when admitted, else the close code."""
    client = WsClient(node.ws_url, max_queue=None)
    client.recv_type("CONNECT")
    client.send("AUTHENTICATE", {"token": user.token}, id="auth")
    try:
        reply = client.recv_type("AUTHENTICATE", "ERROR")
    except ConnectionClosed as closed:
        client.close()
        return client, closed.rcvd.code if closed.rcvd is not None else None
    assert reply["type"] == "AUTHENTICATE", reply
    return client, None


def test_the_connections_per_user_limit_holds_across_nodes(
    cluster: Callable[..., Cluster], rest: Callable[[Any], Api]
) -> None:
    one, two, three = cluster(ws_max_connections_per_user=2).nodes
    alice = rest(one).register("Alice")
    first, refused = authenticate_or_close_code(one, alice)
    assert refused is None
    second, refused = authenticate_or_close_code(two, alice)
    assert refused is None
    try:
        _, code = authenticate_or_close_code(three, alice)
        assert code == 1013
        first.close()

        # Once node one has seen the close, node three admits a new connection.
        def admitted() -> WsClient | None:
            client, code = authenticate_or_close_code(three, alice)
            return client if code is None else None

        third = eventually(admitted, lambda client: client is not None, timeout=10)
        assert third is not None
        third.close()
    finally:
        first.close()
        second.close()


def test_the_per_user_message_rate_holds_across_nodes(
    cluster: Callable[..., Cluster], rest: Callable[[Any], Api]
) -> None:
    # A slow refill (one token every ten seconds): the test's own pace cannot refill the bucket.
    one, two, three = cluster(ws_rate_limit=0.1, ws_rate_limit_burst=5).nodes
    api = rest(one)
    alice, bob = api.register("Alice"), api.register("Bob")
    with (
        WsClient(one.ws_url) as on_one,
        WsClient(two.ws_url) as on_two,
        WsClient(three.ws_url) as bobs,
    ):
        for ws, user in ((on_one, alice), (on_two, alice), (bobs, bob)):
            ws.authenticate(user.token)
        for n in range(3):
            on_one.send("PING", id=f"one-{n}")
        assert [on_one.recv_type("PONG", "ERROR")["type"] for _ in range(3)] == ["PONG"] * 3
        # Node two's connection has a burst of its own, but Alice has two frames left, on any node.
        for n in range(4):
            on_two.send("PING", id=f"two-{n}")
        answers = [on_two.recv_type("PONG", "ERROR") for _ in range(4)]
        assert [frame["type"] for frame in answers] == ["PONG", "PONG", "ERROR", "ERROR"], answers
        assert {frame["data"]["code"] for frame in answers[2:]} == {"RATE_LIMITED"}
        for n in range(3):
            bobs.send("PING", id=f"bob-{n}")
        assert [bobs.recv_type("PONG", "ERROR")["type"] for _ in range(3)] == ["PONG"] * 3


def login(node: Any, email: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=node.api, timeout=30) as http:
        return http.post("/auth/login", json={"email": email, "password": password})


def test_failed_logins_are_counted_across_nodes(
    cluster: Callable[..., Cluster], rest: Callable[[Any], Api]
) -> None:
    one, two, three = cluster(login_max_failures=3).nodes
    alice = rest(one).register("Alice")
    assert login(one, alice.email, "wrong").status_code == 401
    assert login(one, alice.email, "wrong").status_code == 401
    assert login(two, alice.email, "wrong").status_code == 401
    refused = login(two, alice.email, "wrong")
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    assert login(three, alice.email, PASSWORD).status_code == 429  # even the right password, for now


def test_registrations_from_one_address_are_counted_across_nodes(
    cluster: Callable[..., Cluster],
) -> None:
    nodes = cluster(register_max_per_client=2).nodes
    answers = []
    for node in nodes:
        with httpx.Client(base_url=node.api, timeout=30) as http:
            email = f"ann.{time.monotonic_ns()}@example.test"
            answers.append(
                http.post(
                    "/auth/register", json={"email": email, "password": PASSWORD, "name": "Ann"}
                ).status_code
            )
    assert answers == [201, 201, 429]


# --- Redis unreachable --------------------------------------------------------------------------


def test_a_node_whose_redis_is_unreachable_keeps_serving_with_its_own_counts(
    database_factory: Callable[[str], str], rest: Callable[[Any], Api]
) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    node = start_server(
        database_factory("sqlite"),
        redis_url="redis://127.0.0.1:1/0",
        redis_prefix=fresh_prefix(),
        login_max_failures=2,
        ws_max_connections_per_user=1,
    )
    try:
        api = rest(node)
        alice, bob = api.register("Alice"), api.register("Bob")
        workspace_of(alice, bob)
        health = httpx.get(f"{node.base_url}/api/v1/ws/health", timeout=10)
        assert (health.status_code, health.json()["status"]) == (503, "degraded")
        # Limits fall back to this node's memory: still enforced, never an error.
        assert [login(node, alice.email, "wrong").status_code for _ in range(3)] == [401, 401, 429]
        with joined(node, bob, expect=1) as watcher:
            assert present(watcher) == {bob.id: "online"}  # presence of this node's connections
            with joined(node, alice, expect=1):
                assert next_presence_of(watcher, alice.id)["status"] == "online"
                _, code = authenticate_or_close_code(node, alice)
                assert code == 1013
    finally:
        node.stop()
