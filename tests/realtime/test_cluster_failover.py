"""Three nodes as one service under faults (PROTOCOL §1, §3.4): nothing committed is lost.

The nodes here are real processes on one PostgreSQL and one Redis, killed the way machines die.
Each client reads as an application would: when its connection drops it reconnects, to whichever
node answers, with `resume` from the last seq it saw, and the test checks that every client ends
with exactly the log's sequence: nothing lost, nothing twice, nothing out of order.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from tests.support.api import Api, ApiUser
from tests.support.nginx import Nginx
from tests.support.processes import NodeProcess, RedisProcess
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis
from tests.support.tcp_proxy import TcpProxy

# These nodes hear each other through Redis and PostgreSQL's commit notices; a test that must
# show which of the two carried an event switches the log poll off.
NO_LOG_POLL = 600_000

Entry = Any  # NodeProcess or Nginx: something with ws_url and api


class ResumingReader(threading.Thread):
    """A client of one workspace that reconnects and resumes by itself until it has `until`."""

    def __init__(self, entries: Callable[[], list[Entry]], token: str, workspace_id: str) -> None:
        super().__init__(daemon=True)
        self._entries = entries
        self._token = token
        self._workspace_id = workspace_id
        self.events: list[dict[str, Any]] = []
        self.closes: list[int | None] = []  # close codes of the connections it lost
        self.until = 0
        self.connected = threading.Event()
        self._done = threading.Event()

    @property
    def last_seq(self) -> int:
        return self.events[-1]["seq"] if self.events else 0

    def finish(self, until: int, timeout: float = 30) -> list[int]:
        """Wait until the reader has seq `until` (or the time is up); returns the seqs it received."""
        self.until = until
        deadline = time.monotonic() + timeout
        while self.last_seq < until and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.02)
        self._done.set()
        self.join(10)
        return [event["seq"] for event in self.events]

    def run(self) -> None:
        for attempt in itertools.count():
            if self._done.is_set():
                return
            entries = self._entries()
            entry = entries[attempt % len(entries)]
            try:
                self._read(entry)
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
                if isinstance(exc, ConnectionClosed):
                    self.closes.append(exc.rcvd.code if exc.rcvd is not None else None)
                time.sleep(0.05)

    def _read(self, entry: Entry) -> None:
        with connect(entry.ws_url, open_timeout=5, close_timeout=1) as ws:
            json.loads(ws.recv(timeout=5))  # CONNECT
            resume = {self._workspace_id: self.last_seq}
            authenticate = {"token": self._token, "workspaceIds": [self._workspace_id], "resume": resume}
            ws.send(json.dumps({"type": "AUTHENTICATE", "data": authenticate}))
            while not self._done.is_set():
                try:
                    frame = json.loads(ws.recv(timeout=0.2))
                except TimeoutError:
                    continue
                if frame["type"] == "AUTHENTICATE":
                    assert frame["data"]["success"], frame
                    self.connected.set()
                elif "seq" in frame and frame["data"].get("workspaceId") == self._workspace_id:
                    self.events.append(frame)


class Writer(threading.Thread):
    """Creates tasks one after another on whichever entry answers; retries keep their Idempotency-Key."""

    def __init__(
        self, entries: Callable[[], list[Entry]], user: ApiUser, workspace_id: str, count: int
    ) -> None:
        super().__init__(daemon=True)
        self._entries = entries
        self._user = user
        self._workspace_id = workspace_id
        self.count = count
        self.created: list[str] = []
        self.failures: list[str] = []
        self.progress = threading.Event()
        self.pause_after: int | None = None
        self.resume = threading.Event()

    def run(self) -> None:
        turn = itertools.count()
        for number in range(self.count):
            if self.pause_after is not None and number == self.pause_after:
                self.progress.set()
                self.resume.wait(60)
            key = str(uuid.uuid4())
            deadline = time.monotonic() + 30
            while True:
                entries = self._entries()
                entry = entries[next(turn) % len(entries)]
                try:
                    response = httpx.post(
                        f"{entry.api}/workspaces/{self._workspace_id}/tasks",
                        json={"title": f"Task {number}"},
                        headers={"Authorization": f"Bearer {self._user.token}", "Idempotency-Key": key},
                        timeout=5,
                    )
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    response = None
                if response is not None and response.status_code == 201:
                    self.created.append(response.json()["id"])
                    break
                if response is not None:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)


def log_of(entry: Entry, user: ApiUser, workspace_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    since = 0
    while True:
        page = httpx.get(
            f"{entry.api}/workspaces/{workspace_id}/events",
            params={"since": since, "limit": 500},
            headers={"Authorization": f"Bearer {user.token}"},
            timeout=10,
        ).json()
        events.extend(page["events"])
        if not page["hasMore"]:
            return events
        since = page["events"][-1]["seq"]


def assert_exactly_the_log(reader: ResumingReader, log: list[dict[str, Any]]) -> None:
    received = reader.finish(until=log[-1]["seq"])
    assert received == [event["seq"] for event in log], f"closes={reader.closes}"
    assert [event["eventId"] for event in reader.events] == [event["eventId"] for event in log]


@pytest.fixture
def postgres_url(database_factory: Callable[[str], str]) -> str:
    return database_factory("postgres")


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    """Whatever a test starts (nodes, Redis, nginx, proxies), stopped at its end."""
    started: list[Any] = []
    yield started
    for thing in reversed(started):
        if hasattr(thing, "close"):
            thing.close()
        else:
            thing.stop()


def start_nodes(count: int, database_url: str, processes: list[Any], **settings: Any) -> list[NodeProcess]:
    nodes = [NodeProcess(database_url, **settings) for _ in range(count)]
    processes.extend(nodes)
    return nodes


def alive(nodes: list[NodeProcess]) -> Callable[[], list[Entry]]:
    return lambda: [node for node in nodes if node.alive]


def seed(entry: Entry) -> tuple[ApiUser, str]:
    api = Api(entry.api)
    user = api.register("Writer")
    return user, user.create_workspace()["id"]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_clients_of_a_node_that_stops_resume_on_the_others_with_the_exact_sequence(
    how: str, postgres_url: str, processes: list[Any]
) -> None:
    require_redis()
    nodes = start_nodes(3, postgres_url, processes, redis_url=REDIS_URL, redis_prefix=fresh_prefix())
    user, workspace_id = seed(nodes[0])
    # Two readers start on the node that will stop; one on each of the others.
    readers = [
        ResumingReader(lambda node=node: [node, *alive(nodes)()], user.token, workspace_id)
        for node in (nodes[1], nodes[1], nodes[0], nodes[2])
    ]
    for reader in readers:
        reader.start()
        assert reader.connected.wait(10)
    writer = Writer(alive(nodes), user, workspace_id, count=60)
    writer.pause_after = 20
    writer.start()
    assert writer.progress.wait(30)
    if how == "SIGKILL":
        nodes[1].kill()
    else:
        nodes[1].terminate()  # uvicorn stops gracefully, then exits by the same signal
    writer.resume.set()
    writer.join(60)

    assert len(writer.created) == 60 and len(set(writer.created)) == 60
    log = log_of(nodes[0], user, workspace_id)
    assert len(log) == 60  # one event per task: no retried write had a second effect
    for reader in readers:
        assert_exactly_the_log(reader, log)
    if how == "SIGTERM":  # told to go: the going-away close, not a dropped link
        assert 1001 in readers[0].closes


def test_an_event_whose_writer_died_between_commit_and_publish_reaches_every_node(
    postgres_url: str, processes: list[Any]
) -> None:
    """The writer's path to Redis hangs, so its publish never leaves; it is killed right after the commit.

    The log poll is off: the others learn of the event from PostgreSQL's commit notice.
    """
    require_redis()
    prefix = fresh_prefix()
    redis_port = int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy("127.0.0.1", redis_port)
    processes.append(proxy)
    common = {"redis_prefix": prefix, "ws_log_poll_interval": NO_LOG_POLL}
    writer = NodeProcess(postgres_url, redis_url=f"redis://127.0.0.1:{proxy.port}/0", **common)
    processes.append(writer)
    others = start_nodes(2, postgres_url, processes, redis_url=REDIS_URL, **common)
    user, workspace_id = seed(others[0])
    watching = [ResumingReader(lambda node=node: [node], user.token, workspace_id) for node in others]
    on_writer = ResumingReader(
        lambda: [writer, *others] if writer.alive else others, user.token, workspace_id
    )
    for reader in [*watching, on_writer]:
        reader.start()
        assert reader.connected.wait(10)

    proxy.freeze()
    posting = threading.Thread(
        target=lambda: _post_ignoring_errors(writer, user, workspace_id, "Committed, never published"),
        daemon=True,
    )
    posting.start()
    deadline = time.monotonic() + 10
    while not log_of(others[0], user, workspace_id):
        assert time.monotonic() < deadline, "the write was not committed"
        time.sleep(0.01)
    writer.kill()

    log = log_of(others[0], user, workspace_id)
    assert [event["data"]["task"]["title"] for event in log] == ["Committed, never published"]
    for reader in [*watching, on_writer]:
        assert_exactly_the_log(reader, log)


def _post_ignoring_errors(node: NodeProcess, user: ApiUser, workspace_id: str, title: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the node dies while answering
        httpx.post(
            f"{node.api}/workspaces/{workspace_id}/tasks",
            json={"title": title},
            headers={"Authorization": f"Bearer {user.token}"},
            timeout=30,
        )


def test_redis_restarted_mid_stream_every_client_ends_with_every_event(
    postgres_url: str, processes: list[Any]
) -> None:
    redis_server = RedisProcess()
    processes.append(redis_server)
    nodes = start_nodes(3, postgres_url, processes, redis_url=redis_server.url, redis_prefix=fresh_prefix())
    user, workspace_id = seed(nodes[0])
    readers = [ResumingReader(lambda node=node: [node], user.token, workspace_id) for node in nodes]
    for reader in readers:
        reader.start()
        assert reader.connected.wait(10)
    writer = Writer(alive(nodes), user, workspace_id, count=40)
    writer.pause_after = 10
    writer.start()
    assert writer.progress.wait(30)

    redis_server.kill()
    health = httpx.get(f"{nodes[2].api}/ws/health", timeout=5)
    assert (health.status_code, health.json()["status"], health.json()["checks"]["broker"]) == (
        503,
        "degraded",
        "down",
    )
    writer.pause_after = 25
    writer.progress.clear()
    writer.resume.set()
    writer.resume = threading.Event()
    assert writer.progress.wait(60)  # REST kept working without Redis
    redis_server.start()
    writer.resume.set()
    writer.join(60)

    assert len(writer.created) == 40
    log = log_of(nodes[1], user, workspace_id)
    assert len(log) == 40
    for reader in readers:
        assert_exactly_the_log(reader, log)
        assert reader.closes == []  # repaired from the log, no reconnect needed
    deadline = time.monotonic() + 20
    while httpx.get(f"{nodes[2].api}/ws/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the node did not report healthy again"
        time.sleep(0.1)


def test_through_nginx_clients_and_writes_survive_a_node_killed_mid_stream(
    postgres_url: str, processes: list[Any], tmp_path: Path
) -> None:
    require_redis()
    nodes = start_nodes(3, postgres_url, processes, redis_url=REDIS_URL, redis_prefix=fresh_prefix())
    nginx = Nginx([node.port for node in nodes], tmp_path / "nginx")
    processes.append(nginx)
    seen_nodes = {httpx.get(f"{nginx.api}/ws/health", timeout=5).json()["nodeId"] for _ in range(6)}
    assert len(seen_nodes) >= 2  # one address, several nodes behind it

    user, workspace_id = seed(nginx)
    readers = [ResumingReader(lambda: [nginx], user.token, workspace_id) for _ in range(6)]
    for reader in readers:
        reader.start()
        assert reader.connected.wait(10)
    writer = Writer(lambda: [nginx], user, workspace_id, count=50)
    writer.pause_after = 15
    writer.start()
    assert writer.progress.wait(30)
    nodes[0].kill()
    writer.resume.set()
    writer.join(60)

    assert len(writer.created) == 50
    log = log_of(nginx, user, workspace_id)
    assert len(log) == 50
    for reader in readers:
        assert_exactly_the_log(reader, log)
    assert any(reader.closes for reader in readers)  # some were on the killed node and moved
