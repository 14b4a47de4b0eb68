"""The JavaScript client (`/client/taskroom.js`), tested in Node against real nodes.

The Node side (`tests/js/*.test.mjs`, run with `node --test`) speaks to the servers started here, whose
addresses it gets in the environment. Node and npm are required under CI; elsewhere their absence skips.
`npm ci` runs once when `tests/js/node_modules` is missing (it installs `ws`, the only dependency).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskroom.static_assets import CLIENT_DIR
from tests.support.databases import IN_CI
from tests.support.servers import RunningServer, start_server

JS_TESTS = Path(__file__).resolve().parent.parent / "js"
NODE_TEST_TIMEOUT = 60
TEST_TIMEOUT_MS = 40_000


@pytest.fixture(scope="module")
def node_ready() -> str:
    """The `node` executable, with the tests' npm packages installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if IN_CI:
            pytest.fail("node and npm are needed for the JavaScript client's tests")
        pytest.skip("node or npm is not installed")
    if not (JS_TESTS / "node_modules" / "ws").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=JS_TESTS, capture_output=True, text=True, timeout=300
        )
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}\n{installed.stderr}"
    return node


def run_node_tests(node: str, script: str, **env: str) -> None:
    """Runs one `node --test` file and fails with its report unless every test in it passed."""
    result = subprocess.run(
        # A failed test can leave sockets open; force-exit ends the run with its report all the same.
        [
            node,
            "--test",
            "--test-reporter=spec",
            "--test-force-exit",
            f"--test-timeout={TEST_TIMEOUT_MS}",
            script,
        ],
        cwd=JS_TESTS,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=NODE_TEST_TIMEOUT,
    )
    report = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"node --test {script} failed:\n{report}"
    # The runner's closing summary: something ran, and nothing failed.
    passed, failed = re.search(r"\bpass (\d+)", report), re.search(r"\bfail (\d+)", report)
    assert passed is not None and int(passed[1]) > 0, report
    assert failed is not None and int(failed[1]) == 0, report


@pytest.fixture(scope="module")
def sqlite_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(f"sqlite:///{tmp_path_factory.mktemp('js') / 'taskroom.db'}")
    yield server
    server.stop()


def test_the_client_module_and_its_declarations_are_served_as_they_are_shipped(
    sqlite_node: RunningServer,
) -> None:
    with httpx.Client(base_url=sqlite_node.base_url) as http:
        module = http.get("/client/taskroom.js")
        declarations = http.get("/client/taskroom.d.ts")
        missing = http.get("/client/nothing-here.js")
    assert module.status_code == 200
    assert module.headers["content-type"] == "text/javascript; charset=utf-8"
    assert module.content == (CLIENT_DIR / "taskroom.js").read_bytes()
    assert "export default TodoWebSocketClient" in module.text
    assert declarations.status_code == 200
    assert declarations.headers["content-type"] == "application/typescript; charset=utf-8"
    assert declarations.content == (CLIENT_DIR / "taskroom.d.ts").read_bytes()
    assert missing.status_code == 404


def test_events_presence_typing_cursors_and_sync_reach_the_handlers_in_order(
    node_ready: str, sqlite_node: RunningServer
) -> None:
    run_node_tests(node_ready, "events.test.mjs", TASKROOM_URL=sqlite_node.base_url)


def test_reconnects_back_off_from_a_floor_whatever_the_server_answers(
    node_ready: str, sqlite_node: RunningServer
) -> None:
    run_node_tests(node_ready, "backoff.test.mjs", TASKROOM_URL=sqlite_node.base_url)


def test_refused_tokens_stop_the_client_as_unauthorized_instead_of_retrying_forever(
    node_ready: str, sqlite_node: RunningServer
) -> None:
    run_node_tests(node_ready, "unauthorized.test.mjs", TASKROOM_URL=sqlite_node.base_url)


def test_duplicates_gaps_resume_presence_refresh_and_dead_links_on_the_wire(node_ready: str) -> None:
    run_node_tests(node_ready, "wire.test.mjs")


def test_expiring_tokens_are_refreshed_through_the_provider_without_losing_events(
    node_ready: str, tmp_path: Path
) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'taskroom.db'}", jwt_ttl_seconds=5)
    try:
        run_node_tests(node_ready, "token_refresh.test.mjs", TASKROOM_URL=server.base_url)
    finally:
        server.stop()


def test_the_session_helper_keeps_a_client_signed_in_and_reports_the_end_of_its_session(
    node_ready: str, tmp_path: Path
) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'taskroom.db'}", jwt_ttl_seconds=5)
    try:
        run_node_tests(node_ready, "session.test.mjs", TASKROOM_URL=server.base_url)
    finally:
        server.stop()


def test_the_store_module_and_its_declarations_are_served_as_they_are_shipped(
    sqlite_node: RunningServer,
) -> None:
    with httpx.Client(base_url=sqlite_node.base_url) as http:
        module = http.get("/client/store.js")
        declarations = http.get("/client/store.d.ts")
    assert module.status_code == 200
    assert module.headers["content-type"] == "text/javascript; charset=utf-8"
    assert module.content == (CLIENT_DIR / "store.js").read_bytes()
    assert declarations.status_code == 200
    assert declarations.content == (CLIENT_DIR / "store.d.ts").read_bytes()
    # taskroom.js imports it by a relative name, so the one URL serves both.
    assert 'from "./store.js"' in http_text(sqlite_node, "/client/taskroom.js")


def http_text(node: RunningServer, path: str) -> str:
    with httpx.Client(base_url=node.base_url) as http:
        return http.get(path).text


def test_the_offline_store_opens_catches_up_sends_its_outbox_once_and_settles_conflicts(
    node_ready: str, sqlite_node: RunningServer
) -> None:
    run_node_tests(node_ready, "store.test.mjs", TASKROOM_URL=sqlite_node.base_url)


def test_the_offline_store_reloads_from_the_snapshot_when_the_log_answers_gone(
    node_ready: str, tmp_path: Path
) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'taskroom.db'}", ws_event_retention=1)
    try:
        run_node_tests(node_ready, "store_gone.test.mjs", TASKROOM_URL=server.base_url)
    finally:
        server.stop()


class RestartableNode:
    """A node that a POST to the control server stops and starts again on the same port and database."""

    def __init__(self, database_url: str, down_seconds: float) -> None:
        self.database_url = database_url
        self.down_seconds = down_seconds
        self.node = start_server(database_url)
        self.restarts = 0
        self._lock = threading.Lock()

    def restart(self) -> None:
        with self._lock:
            port = self.node.port
            self.node.stop()
            time.sleep(self.down_seconds)  # attempts meanwhile are refused: the client must back off
            self.node = start_server(self.database_url, port=port)
            self.restarts += 1

    def stop(self) -> None:
        self.node.stop()


def control_server(on_restart: Callable[[], None]) -> ThreadingHTTPServer:
    class Control(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/restart":
                self.send_error(404)
                return
            try:
                on_restart()
                status, body = 200, {"restarted": True}
            except Exception as exc:  # reported to the Node test, which fails with it
                status, body = 500, {"error": repr(exc)}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=server.serve_forever, daemon=True, name="js-test-control").start()
    return server


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_client_that_lives_through_a_node_restart_gets_every_event_exactly_once(
    node_ready: str, backend: str, database_factory: Callable[[str], str]
) -> None:
    restartable = RestartableNode(database_factory(backend), down_seconds=0.8)
    control = control_server(restartable.restart)
    try:
        run_node_tests(
            node_ready,
            "restart.test.mjs",
            TASKROOM_URL=restartable.node.base_url,
            TASKROOM_CONTROL_URL=f"http://127.0.0.1:{control.server_address[1]}",
        )
        assert restartable.restarts == 1
    finally:
        control.shutdown()
        control.server_close()
        restartable.stop()
