"""Health and metrics follow the WebSocket traffic (PROTOCOL §2): JSON and Prometheus tell the same story."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.support.waiting import eventually
from tests.support.ws import WsClient

NodeFactory = Callable[..., RunningServer]
ApiFactory = Callable[[RunningServer], Api]


def metrics(node: RunningServer) -> dict[str, Any]:
    response = httpx.get(f"{node.api}/ws/metrics")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, dict)
    return body


def prometheus(node: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by name and labels."""
    response = httpx.get(f"{node.base_url}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def health_connections(node: RunningServer) -> int:
    response = httpx.get(f"{node.api}/ws/health")
    assert response.status_code == 200
    return int(response.json()["connections"])


def connections(node: RunningServer) -> dict[str, int]:
    return dict(metrics(node)["connections"])


def test_connection_counts_follow_connections_opening_authenticating_and_closing(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    private = node_factory()
    alice = api_factory(private).register("Alice")
    alice.create_workspace()
    assert connections(private) == {"current": 0, "authenticated": 0, "peak": 0, "totalOpened": 0}
    assert metrics(private)["rooms"] == 0

    anonymous = WsClient(private.ws_url)
    authenticated = WsClient(private.ws_url)
    anonymous.recv_type("CONNECT")
    authenticated.authenticate(alice.token)
    authenticated.recv_type("PRESENCE_STATE")
    assert connections(private) == {"current": 2, "authenticated": 1, "peak": 2, "totalOpened": 2}
    assert metrics(private)["rooms"] == 1
    assert health_connections(private) == 2
    samples = prometheus(private)
    assert samples[("taskroom_ws_connections", ())] == 2
    assert samples[("taskroom_ws_connections_authenticated", ())] == 1
    assert samples[("taskroom_ws_connections_peak", ())] == 2
    assert samples[("taskroom_ws_connections_opened_total", ())] == 2
    assert samples[("taskroom_ws_rooms", ())] == 1

    authenticated.close()
    eventually(lambda: connections(private), lambda c: c["authenticated"] == 0)
    assert connections(private) == {"current": 1, "authenticated": 0, "peak": 2, "totalOpened": 2}
    assert metrics(private)["rooms"] == 0
    anonymous.close()
    eventually(lambda: connections(private), lambda c: c["current"] == 0)
    assert connections(private) == {"current": 0, "authenticated": 0, "peak": 2, "totalOpened": 2}
    assert health_connections(private) == 0
    assert prometheus(private)[("taskroom_ws_connections", ())] == 0


def test_a_connection_refused_at_the_node_limit_does_not_count_as_current(node_factory: NodeFactory) -> None:
    private = node_factory(ws_max_connections=1)
    with WsClient(private.ws_url) as first:
        first.recv_type("CONNECT")
        with WsClient(private.ws_url) as refused:
            assert refused.wait_closed() == 1013
        eventually(lambda: connections(private), lambda c: c["current"] == 1)


def test_messages_in_and_out_are_counted_by_type_with_fan_out_latency(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    private = node_factory()
    rest = api_factory(private)
    alice, bob = rest.register("Alice"), rest.register("Bob")
    workspace = alice.create_workspace()
    alice.add_member(workspace["id"], bob)
    with WsClient(private.ws_url) as alices, WsClient(private.ws_url) as bobs:
        alices.authenticate(alice.token)
        bobs.authenticate(bob.token)
        for n in range(3):
            alices.send("PING", id=f"p{n}")
            alices.recv_type("PONG")
        alices.send("NOT_A_TYPE", id="x")
        alices.recv_type("ERROR")
        alice.create_task(workspace["id"], "counted")
        alices.recv_events(1)
        bobs.recv_events(1)

    body = metrics(private)
    messages = body["messages"]
    assert messages["inByType"]["AUTHENTICATE"] == 2
    assert messages["inByType"]["PING"] == 3
    assert messages["outByType"]["TASK_CREATED"] == 2  # one event, two connections
    assert messages["outByType"]["PONG"] == 3
    assert messages["outByType"]["ERROR"] == 1
    assert messages["outByType"]["CONNECT"] == 2
    assert messages["in"] == sum(messages["inByType"].values())
    assert messages["out"] == sum(messages["outByType"].values())
    latency = body["fanoutLatency"]
    assert latency["count"] >= 1
    assert 0 <= latency["meanMs"] <= latency["maxMs"]

    samples = prometheus(private)
    assert samples[("taskroom_ws_messages_in_total", (("type", "PING"),))] == 3
    assert samples[("taskroom_ws_messages_out_total", (("type", "TASK_CREATED"),))] == 2
    assert samples[("taskroom_ws_fanout_seconds_count", ())] == latency["count"]


def test_rate_limited_frames_and_dropped_slow_consumers_are_counted(
    node_factory: NodeFactory, api_factory: ApiFactory
) -> None:
    private = node_factory(ws_rate_limit=1, ws_rate_limit_burst=3)
    alice = api_factory(private).register("Alice")
    with WsClient(private.ws_url) as ws:
        ws.authenticate(alice.token)  # 1 of the burst of 3
        for n in range(4):
            ws.send("PING", id=f"p{n}")
        answers = [ws.recv_type("PONG", "ERROR") for _ in range(4)]
    refused = sum(1 for frame in answers if frame["type"] == "ERROR")
    assert refused >= 1
    assert metrics(private)["rateLimited"] == refused
    assert prometheus(private)[("taskroom_ws_rate_limited_total", ())] == refused
    assert metrics(private)["dropped"] == 0  # see the slow-reader test for a drop
