"""A node killed with SIGKILL while clients receive a stream of writes, then started again.

Clients reconnect and resume from their last seq; a writer retries its writes with their
Idempotency-Keys. In the end each client's sequence of events is exactly the workspace log:
nothing lost, nothing twice, nothing out of order, and no write applied twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from tests.support.processes import NodeProcess

WRITES = 120
KILL_AFTER = 40  # writes acknowledged before the kill
FOLLOWERS = 4


class Follower(threading.Thread):
    """A client that follows one workspace and reconnects with `resume` whenever it loses the node."""

    def __init__(self, url: str, token: str, workspace_id: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.workspace_id = url, token, workspace_id
        self.events: list[tuple[int, str]] = []  # (seq, eventId) in the order received
        self.first_seq: int | None = None  # the workspace's seq when it first joined
        self.last_seq: int | None = None
        self.sessions = 0
        self.failure: BaseException | None = None
        self.done = threading.Event()
        self.joined = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                try:
                    conn = connect(self.url, open_timeout=5)
                except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
                    time.sleep(0.05)  # the node is down, or went down during the handshake: try again
                    continue
                with conn:
                    self._follow(conn)
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def _follow(self, conn: Any) -> None:
        try:
            assert json.loads(conn.recv(timeout=10))["type"] == "CONNECT"
            data: dict[str, Any] = {"token": self.token, "workspaceIds": [self.workspace_id]}
            if self.last_seq is not None:
                data["resume"] = {self.workspace_id: self.last_seq}
            conn.send(json.dumps({"type": "AUTHENTICATE", "id": "auth", "data": data}))
            while True:
                frame = json.loads(conn.recv(timeout=10))
                if frame["type"] == "AUTHENTICATE":
                    break
                assert frame["type"] != "ERROR", frame
            self.sessions += 1
            if self.last_seq is None:
                self.first_seq = self.last_seq = frame["data"]["workspaces"][0]["seq"]
            self.joined.set()
            while not self.done.is_set():
                try:
                    frame = json.loads(conn.recv(timeout=0.2))
                except TimeoutError:
                    continue
                if "seq" in frame and frame["data"].get("workspaceId") == self.workspace_id:
                    self.events.append((frame["seq"], frame["eventId"]))
                    self.last_seq = frame["seq"]
        except (ConnectionClosed, OSError):
            return  # the node went away: reconnect and resume


def _post_until_done(http: httpx.Client, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    """One write, retried with the same Idempotency-Key until the node (back up) answers it."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = http.post(path, json=body, headers={"Idempotency-Key": key})
            if response.status_code == 201:
                return dict(response.json())
            assert response.status_code == 503, response.text
        except httpx.TransportError:
            pass  # killed mid-request: whether it was committed is what the key settles
        assert time.monotonic() < deadline, f"write {key} never succeeded"
        time.sleep(0.05)


def test_sigkill_mid_stream_then_restart_loses_duplicates_and_reorders_nothing(
    database_factory: Callable[[str], str],
) -> None:
    node = NodeProcess(database_factory("postgres"))
    port = node.port
    followers: list[Follower] = []
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        with httpx.Client(base_url=base, timeout=10) as anonymous:
            registered = anonymous.post(
                "/auth/register",
                json={"email": "kill@example.test", "password": "long enough pass", "name": "K"},
            ).json()
        token = registered["accessToken"]
        http = httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"})
        workspace = http.post("/workspaces", json={"name": "Stream"}).json()

        followers = [
            Follower(f"ws://127.0.0.1:{port}/api/v1/ws", token, workspace["id"]) for _ in range(FOLLOWERS)
        ]
        for follower in followers:
            follower.start()
        for follower in followers:
            assert follower.joined.wait(30), follower.failure

        acknowledged: list[dict[str, Any]] = []

        def write_all() -> None:
            # A fresh connection per retry is httpx's own business; the key makes retries safe.
            with httpx.Client(
                base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"}
            ) as writer:
                for i in range(WRITES):
                    acknowledged.append(
                        _post_until_done(
                            writer, f"/workspaces/{workspace['id']}/tasks", {"title": f"t{i}"}, f"w-{i}"
                        )
                    )

        writer = threading.Thread(target=write_all, daemon=True)
        writer.start()
        while len(acknowledged) < KILL_AFTER:
            assert writer.is_alive()
            time.sleep(0.005)
        node.kill()  # while the writer goes on and the followers are receiving
        assert len(acknowledged) < WRITES, "the writer finished before the kill"
        node.start()
        writer.join(120)
        assert not writer.is_alive()

        log: list[dict[str, Any]] = []
        while True:
            page = http.get(
                f"/workspaces/{workspace['id']}/events", params={"since": len(log), "limit": 500}
            ).json()
            log.extend(page["events"])
            if not page["hasMore"]:
                break
        latest = page["latestSeq"]
        assert [event["seq"] for event in log] == list(range(1, latest + 1))
        created = [event["data"]["task"]["id"] for event in log if event["type"] == "TASK_CREATED"]
        assert len(created) == len(set(created)) == WRITES  # every write once, retries included
        assert sorted(created) == sorted(task["id"] for task in acknowledged)
        tasks = http.get(f"/workspaces/{workspace['id']}/tasks").json()["items"]
        assert len(tasks) == WRITES
        event_ids = {event["seq"]: event["eventId"] for event in log}

        deadline = time.monotonic() + 60
        while any(f.last_seq != latest for f in followers) and time.monotonic() < deadline:
            assert all(f.is_alive() for f in followers), [f.failure for f in followers]
            time.sleep(0.05)
        for follower in followers:
            follower.done.set()
            follower.join(10)
            assert follower.failure is None, follower.failure
            assert follower.sessions >= 2  # it did lose the node and came back
            assert follower.first_seq is not None
            assert [seq for seq, _ in follower.events] == list(range(follower.first_seq + 1, latest + 1))
            assert all(event_ids[seq] == event_id for seq, event_id in follower.events)
        http.close()
    finally:
        for follower in followers:
            follower.done.set()
        node.stop()
