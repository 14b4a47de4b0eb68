"""The web board is served at `/` and steps aside for everything else the node serves."""

from __future__ import annotations

import httpx

from tests.support.servers import RunningServer


def test_board_page_and_its_modules_are_served_at_the_root(node: RunningServer) -> None:
    page = httpx.get(f"{node.base_url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="main.js">' in page.text
    module = httpx.get(f"{node.base_url}/main.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]  # browsers run ES modules only as JavaScript


def test_api_paths_keep_their_own_answers_beside_the_board(node: RunningServer) -> None:
    with httpx.Client(base_url=node.base_url) as http:
        unknown = http.get("/api/v1/no-such-thing")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "NOT_FOUND"
        # A route's wrong method is still that route's 405 (with Allow), not the board's.
        wrong_method = http.delete("/api/v1/auth/me")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "GET"
        assert http.get("/api/v1/workspaces/").status_code == 307
        assert http.get("/api/v1/ws/health").json()["status"] == "ok"
        assert http.get("/metrics").headers["content-type"].startswith("text/plain")
        assert http.get("/openapi.json").json()["info"]["title"] == "Taskroom"
        assert http.get("/docs").status_code == 200


def test_unknown_paths_outside_the_api_are_a_plain_404(node: RunningServer) -> None:
    missing = httpx.get(f"{node.base_url}/no-such-file.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
