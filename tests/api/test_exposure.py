"""Switches for public deployments: metrics off or behind their own token, API docs off."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.api import Api
from tests.support.databases import sqlite_url
from tests.support.servers import running_server

METRICS_PATHS = ("/metrics", "/api/v1/ws/metrics")
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")


def test_by_default_metrics_and_api_docs_are_served(tmp_path: Path) -> None:
    with running_server(sqlite_url(tmp_path)) as node:
        for path in (*METRICS_PATHS, *DOCS_PATHS):
            assert httpx.get(node.base_url + path).status_code == 200, path


def test_metrics_switched_off_are_not_found_while_health_still_answers(tmp_path: Path) -> None:
    with running_server(sqlite_url(tmp_path), metrics_enabled=False) as node:
        for path in METRICS_PATHS:
            response = httpx.get(node.base_url + path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "NOT_FOUND"
        assert httpx.get(f"{node.api}/ws/health").status_code == 200


def test_metrics_with_a_token_answer_only_to_that_bearer_token(tmp_path: Path) -> None:
    token = "metrics-scraper-token-0123456789"
    with running_server(sqlite_url(tmp_path), metrics_token=token) as node:
        api = Api(node.api)
        user = api.register()
        try:
            for path in METRICS_PATHS:
                for headers in (
                    {},
                    {"Authorization": "Bearer wrong-token"},
                    {"Authorization": f"Bearer {user.token}"},  # a user's token is not a scraper's
                    {"Authorization": f"Basic {token}"},
                ):
                    refused = httpx.get(node.base_url + path, headers=headers)
                    assert refused.status_code == 401, (path, headers)
                    assert refused.json()["error"]["code"] == "UNAUTHORIZED"
                    assert refused.headers["WWW-Authenticate"] == "Bearer"
                    assert "taskroom_ws" not in refused.text and "connections" not in refused.text
                allowed = httpx.get(node.base_url + path, headers={"Authorization": f"Bearer {token}"})
                assert allowed.status_code == 200, path
            assert (
                "taskroom_ws_connections "
                in httpx.get(f"{node.base_url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
            )
            # Health stays open to load balancers.
            assert httpx.get(f"{node.api}/ws/health").status_code == 200
        finally:
            api.close()


def test_api_docs_switched_off_are_not_found_and_the_api_still_works(tmp_path: Path) -> None:
    with running_server(sqlite_url(tmp_path), api_docs_enabled=False) as node:
        for path in DOCS_PATHS:
            assert httpx.get(node.base_url + path).status_code == 404, path
        api = Api(node.api)
        try:
            assert api.register().create_workspace()["name"] == "Board"
        finally:
            api.close()
