"""`TaskroomAPI(queue_path=…)` (PROTOCOL §6): a process killed with queued writes, or with one in
flight, sends them on its next start, and the server applies each exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskroom.client import QueueFileBusy
from taskroom.client.offline import WriteRequest
from taskroom.client.queue_file import SqliteQueue
from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, tasks_of
from tests.support.servers import RunningServer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Writer:
    """`tests/client/queue_process.py` as a child process, killed with SIGKILL like a crash."""

    def __init__(self, user: ApiUser, *args: str) -> None:
        env = {**os.environ, "TASKROOM_TOKEN": user.token}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.client.queue_process", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )

    def line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def flush(user: ApiUser, url: str, queue_path: Path) -> dict[str, object]:
    writer = Writer(user, "flush", url, str(queue_path))
    result = json.loads(writer.line())
    assert writer.process.wait(30) == 0
    return dict(result)


class AnswerlessRelay:
    """Passes requests on to the node and drops every answer: a write reaches the server and its
    sender never hears back (a network that failed at the worst moment)."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket | None) -> None:
        try:
            while chunk := source.recv(65536):
                if sink is not None:
                    sink.sendall(chunk)
        except OSError:
            pass

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def board(sqlite_node_factory: Callable[..., RunningServer]) -> Iterator[tuple[RunningServer, ApiUser, str]]:
    node = sqlite_node_factory()
    api = Api(node.api)
    user = api.register("Writer")
    yield node, user, user.create_workspace("Queued")["id"]
    api.close()


def test_a_killed_process_sends_its_queued_writes_on_its_next_start_each_once(
    board: tuple[RunningServer, ApiUser, str], tmp_path: Path
) -> None:
    node, user, workspace = board
    queue_path = tmp_path / "queue.db"
    nowhere = f"http://127.0.0.1:{free_port()}"
    writer = Writer(user, "queue", nowhere, str(queue_path), workspace, "first", "second", "third")
    assert writer.line() == "queued 3"
    writer.kill()
    assert tasks_of(user, workspace) == []

    result = flush(user, node.base_url, queue_path)
    assert [write["title"] for write in result["applied"]] == ["first", "second", "third"]  # type: ignore[attr-defined]
    assert result["remaining"] == 0
    again = flush(user, node.base_url, queue_path)
    assert again == {"applied": [], "refused": 0, "remaining": 0}

    assert [task["title"] for task in tasks_of(user, workspace)] == ["first", "second", "third"]
    created = [e["data"]["task"]["title"] for e in events_of(user, workspace) if e["type"] == "TASK_CREATED"]
    assert created == ["first", "second", "third"]


def test_a_write_in_flight_when_the_process_was_killed_is_sent_again_and_applied_once(
    board: tuple[RunningServer, ApiUser, str], tmp_path: Path
) -> None:
    node, user, workspace = board
    queue_path = tmp_path / "queue.db"
    relay = AnswerlessRelay(node.port)
    try:
        writer = Writer(
            user, "send", f"http://127.0.0.1:{relay.port}", str(queue_path), workspace, "in flight"
        )
        assert writer.line() == "sending"
        deadline = time.monotonic() + 20
        while not tasks_of(user, workspace):  # the server applied it; its answer is dropped
            assert time.monotonic() < deadline, "the write never reached the server"
            time.sleep(0.05)
        writer.kill()
    finally:
        relay.close()
    applied_first = tasks_of(user, workspace)

    result = flush(user, node.base_url, queue_path)
    assert [write["title"] for write in result["applied"]] == ["in flight"]  # type: ignore[attr-defined]
    assert result["applied"][0]["task"]["id"] == applied_first[0]["id"]  # type: ignore[index]
    assert tasks_of(user, workspace) == applied_first
    assert [e["type"] for e in events_of(user, workspace)].count("TASK_CREATED") == 1


def test_one_process_at_a_time_owns_a_queue_file(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queue.db", limit=10)
    queue.append(WriteRequest("POST", "/workspaces", {"name": "kept"}))
    with pytest.raises(QueueFileBusy):
        SqliteQueue(tmp_path / "queue.db", limit=10)
    queue.close()
    reopened = SqliteQueue(tmp_path / "queue.db", limit=10)
    assert [request.body for request in reopened] == [{"name": "kept"}]
    reopened.close()
