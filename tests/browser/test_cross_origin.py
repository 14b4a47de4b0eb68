"""A page of another origin in Chromium (PROTOCOL §5.5, docs/security.md): from an origin listed in
CORS_ALLOWED_ORIGINS it calls REST with a bearer token (a preflighted request), imports the node's
`/client/taskroom.js` and receives an event over the WebSocket (which WS_ALLOWED_ORIGINS still
checks); from an origin not listed every one of these fails, and no answer carries a CORS header.

The pages come from tiny static servers on other loopback addresses (127.0.0.2, 127.0.0.3): other
origins than the node's 127.0.0.1, as an app's own site would be.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.support.databases import sqlite_url
from tests.support.servers import RunningServer, start_server

APP_PAGE = b"<!doctype html><title>An app of another origin</title><p>app</p>"

# Run in the page: sign up, make a workspace, import the client from the node, connect, create a
# task over REST and wait for its TASK_CREATED. Every REST call sends a JSON body or a bearer
# token, so each is preflighted.
CONNECT_AND_RECEIVE = """
async ({ base, email }) => {
  const api = `${base}/api/v1`;
  const call = async (method, path, { token, body } = {}) => {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (method !== "GET") headers["Idempotency-Key"] = crypto.randomUUID();
    const response = await fetch(`${api}${path}`, { method, headers, body: body && JSON.stringify(body) });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
    return response.json();
  };
  const { accessToken: token } = await call("POST", "/auth/register", {
    body: { email, password: "correct horse battery", name: "Cross" },
  });
  const me = await call("GET", "/auth/me", { token });
  const workspace = await call("POST", "/workspaces", { token, body: { name: "Elsewhere" } });
  const { default: TodoWebSocketClient } = await import(`${base}/client/taskroom.js`);
  const client = new TodoWebSocketClient({ url: base, token, workspaceIds: [workspace.id] });
  const received = new Promise((resolve) => client.onTaskCreated(({ task }) => resolve(task)));
  await client.connect();
  const created = await call("POST", `/workspaces/${workspace.id}/tasks`, { token, body: { title: "From afar" } });
  const task = await received;
  await client.disconnect();
  return { userId: me.id, createdId: created.id, receivedId: task.id, title: task.title };
}
"""

# Run in a page of an origin not listed: each attempt's outcome, never throwing.
TRY_EVERYTHING = """
async ({ base, wsUrl }) => {
  const outcome = async (attempt) => {
    try {
      await attempt();
      return "succeeded";
    } catch (error) {
      return `failed: ${error.name}`;
    }
  };
  const api = `${base}/api/v1`;
  return {
    health: await outcome(() => fetch(`${api}/ws/health`)),
    register: await outcome(() =>
      fetch(`${api}/auth/register`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: `${crypto.randomUUID()}@example.test`, password: "correct horse battery", name: "X" }),
      }),
    ),
    bearer: await outcome(() => fetch(`${api}/workspaces`, { headers: { Authorization: "Bearer x" } })),
    module: await outcome(() => import(`${base}/client/taskroom.js`)),
    socket: await new Promise((resolve) => {
      const socket = new WebSocket(wsUrl);
      socket.onopen = () => { socket.close(); resolve("opened"); };
      socket.onclose = (event) => resolve(`closed before opening (${event.code})`);
    }),
  };
}
"""


class AppPages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(APP_PAGE)))
        self.end_headers()
        self.wfile.write(APP_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Site:
    server: ThreadingHTTPServer

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"


def serve_site(address: str) -> Site:
    server = ThreadingHTTPServer((address, 0), AppPages)
    threading.Thread(target=server.serve_forever, daemon=True, name=f"site-{address}").start()
    return Site(server)


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Site, Site]]:
    allowed, stranger = serve_site("127.0.0.2"), serve_site("127.0.0.3")
    yield allowed, stranger
    for site in (allowed, stranger):
        site.server.shutdown()
        site.server.server_close()


@pytest.fixture(scope="module")
def cors_node(tmp_path_factory: pytest.TempPathFactory, sites: tuple[Site, Site]) -> Iterator[RunningServer]:
    allowed, _ = sites
    node = start_node_with(
        sqlite_url(tmp_path_factory.mktemp("cross-origin")),
        cors_allowed_origins=allowed.origin,
        # The WebSocket's own origin check stays, and is set apart: CORS does not open the socket.
        ws_allowed_origins=allowed.origin,
    )
    yield node
    node.stop()


def start_node_with(database_url: str, **overrides: Any) -> RunningServer:
    """`start_server` on a thread of its own, as `tests.browser.conftest.start_node` (Playwright's
    sync API keeps an event loop running on this one), with settings."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(start_server, database_url, **overrides).result()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_a_listed_origin_calls_rest_imports_the_client_and_receives_over_the_websocket(
    page: Page, sites: tuple[Site, Site], cors_node: RunningServer
) -> None:
    allowed, _ = sites
    page.goto(allowed.origin)
    seen = page.evaluate(
        CONNECT_AND_RECEIVE,
        {"base": cors_node.base_url, "email": f"cross.{uuid.uuid4().hex[:8]}@example.test"},
    )
    assert seen["receivedId"] == seen["createdId"]
    assert seen["title"] == "From afar"
    assert seen["userId"]


def test_an_origin_not_listed_gets_nothing_and_no_cors_header(
    page: Page, sites: tuple[Site, Site], cors_node: RunningServer
) -> None:
    _, stranger = sites
    # Chromium's own record of the network (DevTools protocol): unlike Playwright's `response`
    # events it also shows the answers it received and then refused for CORS, preflights included.
    devtools = page.context.new_cdp_session(page)
    headers_seen: dict[str, dict[str, str]] = {}  # request id → the answer's headers
    urls: dict[str, str] = {}
    cors_errors: list[str] = []

    def on_headers(event: dict[str, Any]) -> None:
        headers_seen[event["requestId"]] = {name.lower(): value for name, value in event["headers"].items()}

    devtools.on(
        "Network.requestWillBeSent", lambda event: urls.update({event["requestId"]: event["request"]["url"]})
    )
    devtools.on("Network.responseReceivedExtraInfo", on_headers)
    devtools.on(
        "Network.loadingFailed",
        lambda event: (
            cors_errors.append(event["corsErrorStatus"]["corsError"]) if "corsErrorStatus" in event else None
        ),
    )
    devtools.send("Network.enable")
    page.goto(stranger.origin)
    outcome = page.evaluate(TRY_EVERYTHING, {"base": cors_node.base_url, "wsUrl": cors_node.ws_url})
    assert outcome["health"] == "failed: TypeError"
    assert outcome["register"] == "failed: TypeError"
    assert outcome["bearer"] == "failed: TypeError"
    assert outcome["module"] == "failed: TypeError"
    assert outcome["socket"].startswith("closed before opening")
    # Every fetch and the import were refused by Chromium for want of CORS headers.
    assert len(cors_errors) >= 4, cors_errors
    from_node = {
        rid: headers
        for rid, headers in headers_seen.items()
        if urls.get(rid, "").startswith(cors_node.base_url)
    }
    assert len(from_node) >= 4, (urls, headers_seen)
    for rid, headers in from_node.items():
        assert not [name for name in headers if name.startswith("access-control-")], (urls[rid], headers)
