"""Pages of other origins (PROTOCOL §5.5, docs/security.md): CORS_ALLOWED_ORIGINS opens REST, /client/*
and the health check to the origins it lists, and to no other; without it nothing is opened."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from taskroom.db.migrate import upgrade
from taskroom.server import NodeServer, uvicorn_config
from taskroom.settings import Settings
from tests.support.api import Api
from tests.support.databases import sqlite_url
from tests.support.servers import TEST_SETTINGS, RunningServer, start_server

APP = "http://app.example:3000"
SECOND_APP = "https://second.example"
STRANGER = "https://evil.example"


@pytest.fixture(scope="module")
def cors_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # The second origin is written as people do: mixed case, a trailing slash, spaces.
    server = start_server(
        sqlite_url(tmp_path_factory.mktemp("cors")),
        cors_allowed_origins=f"{APP}, https://Second.Example/",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(cors_node: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cors_node.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def token(cors_node: RunningServer) -> str:
    api = Api(cors_node.api)
    try:
        return api.register("Cors").token
    finally:
        api.close()


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


def varies_on(response: httpx.Response) -> set[str]:
    return {part.strip().lower() for value in response.headers.get_list("vary") for part in value.split(",")}


def preflight(http: httpx.Client, path: str, origin: str, method: str = "POST") -> httpx.Response:
    return http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )


@pytest.mark.parametrize("origin", [APP, SECOND_APP])
def test_a_listed_origin_passes_the_preflight_with_the_methods_and_headers_of_the_api(
    http: httpx.Client, origin: str
) -> None:
    answer = preflight(http, "/api/v1/workspaces", origin)
    assert answer.status_code == 200
    headers = cors_headers(answer)
    assert headers["access-control-allow-origin"] == origin
    methods = {m.strip() for m in headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert "*" not in "".join(headers.values())
    assert "access-control-allow-credentials" not in headers
    assert "origin" in varies_on(answer)


def test_a_listed_origin_can_read_rest_answers_errors_included(http: httpx.Client, token: str) -> None:
    created = http.post(
        "/api/v1/workspaces",
        json={"name": "From the app"},
        headers={"Origin": APP, "Authorization": f"Bearer {token}", "Idempotency-Key": "cors-1"},
    )
    refused = http.get("/api/v1/auth/me", headers={"Origin": APP})  # 401: the page must see why
    missing = http.get(
        "/api/v1/tasks/nothing-here", headers={"Origin": APP, "Authorization": f"Bearer {token}"}
    )
    for answer, status in ((created, 201), (refused, 401), (missing, 404)):
        assert answer.status_code == status
        assert answer.headers["access-control-allow-origin"] == APP
        assert "origin" in varies_on(answer)


def test_the_client_module_and_health_answer_a_listed_origin_also_when_compressed_or_not_modified(
    http: httpx.Client,
) -> None:
    module = http.get("/client/taskroom.js", headers={"Origin": APP, "Accept-Encoding": "gzip"})
    assert module.status_code == 200
    assert module.headers["content-encoding"] == "gzip"
    assert module.headers["access-control-allow-origin"] == APP
    assert {"origin", "accept-encoding"} <= varies_on(module)
    again = http.get("/client/taskroom.js", headers={"Origin": APP, "If-None-Match": module.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["access-control-allow-origin"] == APP
    assert "origin" in varies_on(again)
    health = http.get("/api/v1/ws/health", headers={"Origin": SECOND_APP})
    assert health.status_code == 200
    assert health.headers["access-control-allow-origin"] == SECOND_APP


def test_another_origin_gets_no_cors_header_at_all(http: httpx.Client, token: str) -> None:
    answers = [
        preflight(http, "/api/v1/workspaces", STRANGER),
        preflight(http, "/client/taskroom.js", STRANGER, method="GET"),
        http.get("/api/v1/workspaces", headers={"Origin": STRANGER, "Authorization": f"Bearer {token}"}),
        http.get("/client/taskroom.js", headers={"Origin": STRANGER}),
        http.get("/api/v1/ws/health", headers={"Origin": "null"}),
        # A look-alike of a listed origin: another port, another scheme.
        http.get("/api/v1/ws/health", headers={"Origin": "http://app.example:3001"}),
        http.get("/api/v1/ws/health", headers={"Origin": "https://app.example:3000"}),
    ]
    for answer in answers:
        assert cors_headers(answer) == {}, (answer.request.method, answer.url, answer.headers)
    assert answers[0].status_code == 400


def test_answers_that_a_cache_may_keep_vary_on_the_origin_whoever_asked(http: httpx.Client) -> None:
    # Kept by a browser or a proxy without CORS headers, an answer must not be replayed to a listed
    # origin (nor one with them to another origin): every answer on these paths names Origin in Vary.
    for headers in ({}, {"Origin": STRANGER}, {"Origin": APP}):
        for path in ("/client/taskroom.js", "/client/taskroom.d.ts", "/client/store.js", "/api/v1/ws/health"):
            answer = http.get(path, headers=headers)
            assert answer.status_code == 200
            assert "origin" in varies_on(answer), (path, headers)


def test_the_board_docs_and_prometheus_metrics_stay_same_origin(http: httpx.Client) -> None:
    for path in ("/", "/main.js", "/metrics", "/openapi.json"):
        answer = http.get(path, headers={"Origin": APP})
        assert answer.status_code == 200, path
        assert cors_headers(answer) == {}, path


def oversized_post(node: RunningServer, origin: str, path: str = "/api/v1/workspaces") -> bytes:
    """A POST whose Content-Length is over HTTP_MAX_BODY_BYTES: refused (413) before the app runs."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n".encode()
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received.split(b"\r\n\r\n", 1)[0].lower()


def test_a_body_refused_before_the_app_runs_is_readable_by_a_listed_origin_only(
    cors_node: RunningServer,
) -> None:
    # The 413 is written by the HTTP layer, which CORSMiddleware never sees: without the header a
    # page would see a network failure instead of PAYLOAD_TOO_LARGE.
    listed = oversized_post(cors_node, APP)
    assert listed.startswith(b"http/1.1 413 ")
    assert f"access-control-allow-origin: {APP}".encode() in listed.split(b"\r\n")
    assert b"vary: origin" in listed.split(b"\r\n")
    for head in (oversized_post(cors_node, STRANGER), oversized_post(cors_node, APP, path="/board-upload")):
        assert head.startswith(b"http/1.1 413 ")
        assert b"access-control-" not in head


def test_an_internal_error_is_readable_by_a_listed_origin(tmp_path: Path) -> None:
    # Starlette answers 500 outside the added middleware; CORS sits outside that answer too.
    database_url = sqlite_url(tmp_path)
    settings = Settings(**{**TEST_SETTINGS, "database_url": database_url, "cors_allowed_origins": APP})
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
    node = RunningServer(settings, sock.getsockname()[1], server, thread)
    try:
        answer = httpx.get(f"{node.api}/test-failure", headers={"Origin": APP})
    finally:
        node.stop()
    assert answer.status_code == 500
    assert answer.headers["access-control-allow-origin"] == APP


def test_without_the_setting_no_origin_is_answered(tmp_path: Path) -> None:
    server = start_server(sqlite_url(tmp_path))
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            answers = [
                preflight(client, "/api/v1/workspaces", APP),
                client.get("/client/taskroom.js", headers={"Origin": APP}),
                client.get("/api/v1/ws/health", headers={"Origin": APP}),
            ]
    finally:
        server.stop()
    for answer in answers:
        assert cors_headers(answer) == {}, answer.url


@pytest.mark.parametrize(
    "value",
    ["*", "http://app.example:3000,*", "app.example", "https://app.example/path", "https://*.example"],
)
def test_a_wildcard_or_anything_but_an_origin_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ALLOWED_ORIGINS"):
        Settings(cors_allowed_origins=value)
