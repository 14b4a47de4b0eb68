"""Security headers, caching and compression on every HTTP answer of a node (docs/security.md)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from taskroom.db.migrate import upgrade
from taskroom.server import NodeServer, uvicorn_config
from taskroom.settings import Settings
from tests.support.api import Api
from tests.support.databases import sqlite_url
from tests.support.servers import TEST_SETTINGS, RunningServer
from tests.support.ydoc import doc_url

FIXED = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        assert name not in parsed, f"{name} given twice in {policy!r}"
        parsed[name] = values
    return parsed


def assert_security_headers(response: httpx.Response) -> dict[str, list[str]]:
    for name, value in FIXED.items():
        assert response.headers.get_list(name) == [value], (response.url, name)
    policies = response.headers.get_list("content-security-policy")
    assert len(policies) == 1, (response.url, policies)
    policy = directives(policies[0])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    assert "'unsafe-eval'" not in policies[0]
    return policy


def test_every_kind_of_answer_carries_the_security_headers(node: RunningServer, api: Api) -> None:
    user = api.register("Headers")
    with httpx.Client(base_url=node.base_url, timeout=30) as http:
        answers = [
            http.get("/"),  # the board's page
            http.get("/main.js"),  # one of its modules
            http.get("/client/taskroom.js"),
            http.get("/api/v1/ws/health"),  # JSON
            http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {user.token}"}),
            http.get("/api/v1/auth/me"),  # 401
            http.get("/api/v1/no-such-thing"),  # the API's 404
            http.get("/no-such-file.js"),  # the board's 404
            http.delete("/api/v1/auth/me"),  # 405
            http.post("/api/v1/auth/login", content=b"{"),  # 422
            http.get("/api/v1/workspaces/"),  # a redirect
            http.get("/openapi.json"),
            http.get("/metrics"),
        ]
    assert [answer.status_code for answer in answers] == [
        200, 200, 200, 200, 200, 401, 404, 404, 405, 422, 307, 200, 200,
    ]  # fmt: skip
    for answer in answers:
        policy = assert_security_headers(answer)
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]


def test_the_policy_names_the_websocket_origins_of_the_host_asked_for(node: RunningServer) -> None:
    host = f"127.0.0.1:{node.port}"
    policy = assert_security_headers(httpx.get(f"{node.base_url}/"))
    assert policy["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]
    # A Host header that is not a plain host cannot add sources or directives to the policy.
    forged = httpx.get(f"{node.base_url}/", headers={"Host": "evil.test;script-src https://evil.test"})
    forged_policy = assert_security_headers(forged)
    assert forged_policy["connect-src"] == ["'self'"]
    assert forged_policy["script-src"] == ["'self'"]


@pytest.mark.parametrize("path", ["/", "/board.css", "/main.js", "/vendor/yjs.js", "/client/taskroom.js"])
def test_static_files_are_revalidated_by_their_etag(node: RunningServer, path: str) -> None:
    with httpx.Client(base_url=node.base_url, timeout=30) as http:
        first = http.get(path)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "no-cache"
        etag = first.headers["etag"]
        again = http.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "no-cache"
    assert_security_headers(again)


def test_large_answers_are_gzipped_and_small_ones_go_out_as_they_are(node: RunningServer, api: Api) -> None:
    user = api.register("Gzip")
    workspace = user.create_workspace("Compressed")
    for number in range(20):
        user.create_task(workspace["id"], f"Task {number}", description="A line of description. " * 20)
    with httpx.Client(base_url=node.base_url, timeout=30) as http:
        plain = http.get("/vendor/yjs.js", headers={"Accept-Encoding": "identity"})
        # Read the bytes as they came, to see the encoding the node chose.
        with http.stream("GET", "/vendor/yjs.js", headers={"Accept-Encoding": "gzip"}) as zipped:
            raw = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in zipped.headers["vary"].lower()
        assert gzip.decompress(raw) == plain.content
        assert len(raw) < len(plain.content) / 2
        assert "content-encoding" not in plain.headers

        tasks = user.get(f"/workspaces/{workspace['id']}/tasks", headers={"Accept-Encoding": "gzip"})
        assert tasks.headers["content-encoding"] == "gzip"
        assert len(tasks.json()["items"]) == 20

        health = http.get("/api/v1/ws/health", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in health.headers
        created = user.post(
            f"/workspaces/{workspace['id']}/tasks",
            json={"title": "Small"},
            headers={"Accept-Encoding": "gzip"},
        )
        assert created.status_code == 201
        assert "content-encoding" not in created.headers


def test_a_document_websocket_still_opens_through_the_headers(node: RunningServer, api: Api) -> None:
    user = api.register("Socket")
    task = user.create_task(user.create_workspace("Docs")["id"], "Shared")
    with connect(doc_url(node.ws_url, task["id"], user.token), open_timeout=10) as socket_:
        assert isinstance(socket_.recv(timeout=10), bytes)  # the node's first sync message


def inline_hashes(html: str, tag: str) -> set[str]:
    bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in bodies
    }


@pytest.mark.parametrize(
    ("page", "asset"),
    [
        ("/docs", "/docs/assets/swagger-ui-bundle.js"),
        ("/docs/oauth2-redirect", None),
        ("/redoc", "/docs/assets/redoc.standalone.js"),
    ],
)
def test_the_docs_pages_load_only_the_nodes_own_files(
    node: RunningServer, page: str, asset: str | None
) -> None:
    with httpx.Client(base_url=node.base_url, timeout=30) as http:
        answer = http.get(page)
        assert answer.status_code == 200
        policy = assert_security_headers(answer)
        # The inline start-up script runs by its hash; nothing from another origin is allowed.
        assert set(policy["script-src"]) == {"'self'"} | inline_hashes(answer.text, "script")
        assert "'unsafe-inline'" not in policy["script-src"]
        assert "cdn." not in answer.text
        assert all(
            source.startswith("'") or source.endswith(":") for values in policy.values() for source in values
        )
        if asset is not None:
            script = http.get(asset)
            assert script.status_code == 200
            assert script.headers["content-type"].startswith("text/javascript")
            assert script.headers["cache-control"] == "no-cache"


# --- answers made by the error middleware ---------------------------------------------------------


@pytest.fixture(scope="module")
def failing_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A node whose app has one more route, which fails: Starlette answers it 500 outside the
    app's added middleware, where headers added the usual way would be missing."""
    database_url = sqlite_url(Path(tmp_path_factory.mktemp("failing")))
    settings = Settings(**{**TEST_SETTINGS, "database_url": database_url})
    upgrade(database_url)
    config = uvicorn_config(settings, "127.0.0.1", 0)

    async def fail() -> None:
        raise RuntimeError("a bug in a handler")

    config.app.add_api_route("/api/v1/test-failure", fail)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = NodeServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the node did not start"
        time.sleep(0.01)
    running = RunningServer(settings, sock.getsockname()[1], server, thread)
    yield running
    running.stop()


def test_an_internal_error_answer_carries_the_security_headers(failing_node: RunningServer) -> None:
    answer = httpx.get(f"{failing_node.api}/test-failure")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "INTERNAL"
    assert_security_headers(answer)
