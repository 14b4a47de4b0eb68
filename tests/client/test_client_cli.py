"""`taskroom token` and `taskroom tail` as a script or a person runs them."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from typing import IO

import httpx

from tests.support.api import Api
from tests.support.processes import TASKROOM
from tests.support.servers import RunningServer

PASSWORD = "correct horse battery"


def run_token(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TASKROOM), "token", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or dict(os.environ),
    )


def test_token_prints_a_token_that_works_on_auth_me(sqlite_node: RunningServer) -> None:
    api = Api(sqlite_node.api)
    try:
        user = api.register("Scripter", password=PASSWORD)
    finally:
        api.close()
    env = {**os.environ, "TASKROOM_PASSWORD": PASSWORD}
    done = run_token("--email", user.email, "--url", sqlite_node.base_url, env=env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    me = httpx.get(f"{sqlite_node.api}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["id"] == user.id


def test_token_with_a_wrong_password_or_no_server_prints_nothing_and_fails(
    sqlite_node: RunningServer,
) -> None:
    api = Api(sqlite_node.api)
    try:
        user = api.register("Scripter", password=PASSWORD)
    finally:
        api.close()
    wrong = run_token("--email", user.email, "--password", "not the password", "--url", sqlite_node.base_url)
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert "INVALID_CREDENTIALS" in wrong.stderr
    nowhere = run_token("--email", user.email, "--password", PASSWORD, "--url", "http://127.0.0.1:9")
    assert (nowhere.returncode, nowhere.stdout) == (1, "")
    assert "cannot reach" in nowhere.stderr
    assert "Traceback" not in wrong.stderr + nowhere.stderr


class Lines:
    """The lines of a child's stream as they come, read by a thread so a test can wait with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._reader.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line)

    def next_containing(self, text: str, timeout: float = 20) -> str:
        while True:
            line = self.queue.get(timeout=timeout)
            if text in line:
                return line

    def rest(self) -> list[str]:
        """Every line not read yet, once the stream has ended."""
        self._reader.join(timeout=10)
        return list(self.queue.queue)


def test_tail_prints_an_event_created_after_it_started_and_ctrl_c_ends_it_cleanly(
    sqlite_node: RunningServer,
) -> None:
    api = Api(sqlite_node.api)
    try:
        user = api.register("Tailer")
        workspace = user.create_workspace()["id"]
        tail = subprocess.Popen(
            [str(TASKROOM), "tail", workspace, "--url", sqlite_node.base_url, "--token", user.token],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert tail.stdout is not None and tail.stderr is not None
            out, err = Lines(tail.stdout), Lines(tail.stderr)
            err.next_containing("taskroom tail: open")
            task = user.create_task(workspace, "seen by tail")
            frame = json.loads(out.next_containing("TASK_CREATED"))
            assert frame["type"] == "TASK_CREATED"
            assert frame["data"]["task"]["id"] == task["id"]
            assert frame["data"]["task"]["title"] == "seen by tail"
            assert frame["seq"] >= 1
            tail.send_signal(signal.SIGINT)
            assert tail.wait(timeout=20) == 0
            assert not any("Traceback" in line for line in err.rest())
        finally:
            if tail.poll() is None:
                tail.kill()
                tail.wait()
    finally:
        api.close()


def test_tail_of_a_workspace_the_account_cannot_see_exits_1_with_a_clear_message(
    sqlite_node: RunningServer,
) -> None:
    api = Api(sqlite_node.api)
    try:
        owner = api.register("Owner")
        outsider = api.register("Outsider")
        private = owner.create_workspace()["id"]
        for workspace in (private, "no-such-workspace"):
            done = subprocess.run(
                [str(TASKROOM), "tail", workspace, "--url", sqlite_node.base_url, "--token", outsider.token],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert (done.returncode, done.stdout) == (1, "")
            assert f"error: workspace {workspace} is not open to this account" in done.stderr
            assert "Traceback" not in done.stderr
    finally:
        api.close()


def test_tail_with_a_refused_token_or_password_exits_1_instead_of_retrying(
    sqlite_node: RunningServer,
) -> None:
    api = Api(sqlite_node.api)
    try:
        user = api.register("Tailer", password=PASSWORD)
        workspace = user.create_workspace()["id"]
    finally:
        api.close()
    # A token signed with another key: the server answers UNAUTHORIZED and closes 4401.
    forged = user.token[: user.token.rindex(".") + 1] + "c2lnbmVkLWVsc2V3aGVyZQ"
    refused = subprocess.run(
        [str(TASKROOM), "tail", workspace, "--url", sqlite_node.base_url, "--token", forged],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "error: the server refused the token (close 4401" in refused.stderr
    wrong = subprocess.run(
        [str(TASKROOM), "tail", workspace, "--url", sqlite_node.base_url, "--email", user.email],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TASKROOM_PASSWORD": "not the password"},
    )
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert "INVALID_CREDENTIALS" in wrong.stderr
    assert "Traceback" not in refused.stderr + wrong.stderr


def test_tail_with_email_uses_one_session_and_ends_it_on_exit(sqlite_node: RunningServer) -> None:
    api = Api(sqlite_node.api)
    try:
        user = api.register("Tailer", password=PASSWORD)
        workspace = user.create_workspace()["id"]
        tail = subprocess.Popen(
            [str(TASKROOM), "tail", workspace, "--url", sqlite_node.base_url, "--email", user.email],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TASKROOM_PASSWORD": PASSWORD},
        )
        try:
            assert tail.stdout is not None and tail.stderr is not None
            out, err = Lines(tail.stdout), Lines(tail.stderr)
            err.next_containing("taskroom tail: open")
            assert len(user.get("/auth/sessions").json()["items"]) == 2  # the register's and the tail's
            user.create_task(workspace, "seen by tail")
            assert json.loads(out.next_containing("TASK_CREATED"))["data"]["task"]["title"] == "seen by tail"
            tail.send_signal(signal.SIGINT)
            assert tail.wait(timeout=20) == 0
            assert not any("Traceback" in line for line in err.rest())
        finally:
            if tail.poll() is None:
                tail.kill()
                tail.wait()
        [left] = user.get("/auth/sessions").json()["items"]
        assert left["current"] is True  # the tail logged its own session out
    finally:
        api.close()
