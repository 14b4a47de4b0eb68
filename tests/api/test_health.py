"""Health and metrics (PROTOCOL §2): open to monitoring without a token."""

from __future__ import annotations

import httpx

from tests.support.api import Api
from tests.support.servers import RunningServer


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
