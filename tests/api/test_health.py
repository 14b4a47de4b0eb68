"""Health and metrics (PROTOCOL §2): open to monitoring without a token."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.api import Api
from tests.support.databases import drop_postgres_database
from tests.support.servers import RunningServer, running_server


def test_health_reports_ok_with_its_checks_and_needs_no_token(node: RunningServer) -> None:
    response = httpx.get(f"{node.api}/ws/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["nodeId"] == node.settings.node_id
    assert body["checks"] == {"database": "ok", "broker": "ok"}
    assert isinstance(body["uptimeSeconds"], int | float) and body["uptimeSeconds"] >= 0
    assert isinstance(body["connections"], int)


def test_json_metrics_describe_connections_rooms_messages_and_fanout(node: RunningServer) -> None:
    response = httpx.get(f"{node.api}/ws/metrics")
    assert response.status_code == 200
    body = response.json()
    assert body["nodeId"] == node.settings.node_id
    assert set(body["connections"]) >= {"current", "authenticated", "peak", "totalOpened"}
    assert set(body["messages"]) >= {"in", "out", "inByType", "outByType"}
    for counter in ("rooms", "dropped", "rateLimited"):
        assert isinstance(body[counter], int)
    assert set(body["fanoutLatency"]) >= {"count", "meanMs", "maxMs"}


def test_prometheus_metrics_are_served_as_text_exposition(node: RunningServer) -> None:
    response = httpx.get(f"{node.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for metric in (
        "taskroom_ws_connections ",
        "taskroom_ws_connections_authenticated ",
        "taskroom_ws_connections_peak ",
        "taskroom_ws_rooms ",
        "taskroom_ws_fanout_seconds_bucket",
    ):
        assert metric in text, metric
    assert "# TYPE taskroom_ws_connections gauge" in text


def test_unknown_api_path_answers_404_in_the_error_envelope(api: Api) -> None:
    response = api.http.get("/no/such/path")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_health_answers_503_degraded_when_the_database_goes_away(
    database_factory: Callable[[str], str],
) -> None:
    url = database_factory("postgres")
    with running_server(url) as server:
        assert httpx.get(f"{server.base_url}/api/v1/ws/health").status_code == 200
        drop_postgres_database(url)  # terminates the node's connections and removes the database
        response = httpx.get(f"{server.base_url}/api/v1/ws/health", timeout=30)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded"
        assert body["checks"] == {"database": "down", "broker": "ok"}
