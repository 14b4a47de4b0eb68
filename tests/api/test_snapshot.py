"""`GET /workspaces/{id}/snapshot` (PROTOCOL §6): the workspace read at one moment, with the log's
head then, so that applying every later event gives the current state — under concurrent writes
too, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, members_of, tasks_of
from tests.support.servers import RunningServer

TASK_EVENTS = {"TASK_CREATED", "TASK_UPDATED", "TASK_COMPLETED", "TASK_MOVED"}


def apply(tasks: dict[str, dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """What a client does with events after a snapshot: each task event carries the whole task."""
    for event in events:
        if event["type"] in TASK_EVENTS:
            task = event["data"]["task"]
            tasks[task["id"]] = task
        elif event["type"] == "TASK_DELETED":
            tasks.pop(event["data"]["taskId"], None)


def snapshot_pages(user: ApiUser, workspace_id: str, limit: int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = user.get(f"/workspaces/{workspace_id}/snapshot", params=params)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        if pages[-1]["nextCursor"] is None:
            return pages
        params["cursor"] = pages[-1]["nextCursor"]


class Writer:
    """Creates, edits, moves, completes and deletes tasks of one workspace until stopped."""

    def __init__(self, user: ApiUser, workspace_id: str, seed: int) -> None:
        self._user = user.on_own_connection()
        self._workspace_id = workspace_id
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.writes = 0

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._user.http.close()

    def _run(self) -> None:
        ids: list[str] = []
        while not self._stop.is_set():
            choice = self._random.random()
            if choice < 0.3 or not ids:
                ids.append(self._user.create_task(self._workspace_id, f"t{self.writes}")["id"])
            else:
                task_id = self._random.choice(ids)
                if choice < 0.55:
                    self._user.patch(f"/tasks/{task_id}", json={"title": f"edit {self.writes}"})
                elif choice < 0.75:
                    status = self._random.choice(["todo", "in_progress", "done"])
                    self._user.post(f"/tasks/{task_id}/move", json={"status": status})
                elif choice < 0.9:
                    completed = self._random.random() < 0.5
                    self._user.post(f"/tasks/{task_id}/complete", json={"completed": completed})
                else:
                    self._user.delete(f"/tasks/{task_id}")
                    ids.remove(task_id)
            self.writes += 1


@pytest.fixture
def board(node: RunningServer) -> Iterator[tuple[ApiUser, ApiUser, str]]:
    api = Api(node.api)
    owner = api.register("Owner")
    viewer = api.register("Viewer")
    workspace_id = owner.create_workspace("Snapshot")["id"]
    owner.add_member(workspace_id, viewer, "viewer")
    yield owner, viewer, workspace_id
    api.close()


def test_snapshot_is_the_workspace_its_members_its_tasks_and_the_head(
    board: tuple[ApiUser, ApiUser, str],
) -> None:
    owner, viewer, workspace_id = board
    for index in range(5):
        owner.create_task(workspace_id, f"task {index}", status=["todo", "done"][index % 2])
    response = viewer.get(f"/workspaces/{workspace_id}/snapshot")
    assert response.status_code == 200, response.text
    snapshot = response.json()
    assert snapshot["workspace"] == viewer.get(f"/workspaces/{workspace_id}").json()
    assert snapshot["workspace"]["role"] == "viewer"
    assert snapshot["members"] == members_of(viewer, workspace_id)
    assert snapshot["tasks"] == tasks_of(viewer, workspace_id)
    assert snapshot["latestSeq"] == events_of(viewer, workspace_id)[-1]["seq"]
    assert snapshot["nextCursor"] is None


def test_one_page_read_during_writes_is_exactly_the_log_up_to_its_seq(
    board: tuple[ApiUser, ApiUser, str],
) -> None:
    """No event missed or applied twice: the tasks read are what the log gives up to latestSeq,
    and the events after it bring them to the current state."""
    owner, viewer, workspace_id = board
    with Writer(owner, workspace_id, seed=1) as writer:
        snapshots = []
        while len(snapshots) < 15 or writer.writes < 60:
            response = viewer.get(f"/workspaces/{workspace_id}/snapshot")
            assert response.status_code == 200, response.text
            snapshots.append(response.json())
    log = events_of(viewer, workspace_id)
    final = {task["id"]: task for task in tasks_of(viewer, workspace_id)}
    heads = set()
    for snapshot in snapshots:
        head = snapshot["latestSeq"]
        heads.add(head)
        replayed: dict[str, dict[str, Any]] = {}
        apply(replayed, [event for event in log if event["seq"] <= head])
        assert {task["id"]: task for task in snapshot["tasks"]} == replayed
        caught_up = {task["id"]: task for task in snapshot["tasks"]}
        apply(caught_up, [event for event in log if event["seq"] > head])
        assert caught_up == final
    assert len(heads) > 3, "the snapshots were all taken between the same two writes"


def test_pages_read_during_writes_catch_up_from_the_first_page(
    board: tuple[ApiUser, ApiUser, str],
) -> None:
    owner, viewer, workspace_id = board
    for index in range(40):
        owner.create_task(workspace_id, f"seed {index}")
    with Writer(owner, workspace_id, seed=2) as writer:
        rounds = []
        while len(rounds) < 5 or writer.writes < 60:
            rounds.append(snapshot_pages(viewer, workspace_id, limit=7))
    log = events_of(viewer, workspace_id)
    final = {task["id"]: task for task in tasks_of(viewer, workspace_id)}
    assert any(len(pages) > 3 for pages in rounds)
    for pages in rounds:
        tasks = {task["id"]: task for page in pages for task in page["tasks"]}
        apply(tasks, [event for event in log if event["seq"] > pages[0]["latestSeq"]])
        assert tasks == final


def test_pages_cover_every_task_once_in_board_order(board: tuple[ApiUser, ApiUser, str]) -> None:
    owner, viewer, workspace_id = board
    for index in range(23):
        owner.create_task(workspace_id, f"task {index}", status=["todo", "in_progress", "done"][index % 3])
    pages = snapshot_pages(viewer, workspace_id, limit=5)
    assert len(pages) == 5
    assert [task for page in pages for task in page["tasks"]] == tasks_of(viewer, workspace_id)
    assert {page["latestSeq"] for page in pages} == {pages[0]["latestSeq"]}


def test_snapshot_of_another_workspace_is_not_found(node: RunningServer) -> None:
    api = Api(node.api)
    owner = api.register("Owner")
    stranger = api.register("Stranger")
    workspace_id = owner.create_workspace("Private")["id"]
    owner.create_task(workspace_id, "secret plan")
    response = stranger.get(f"/workspaces/{workspace_id}/snapshot")
    assert response.status_code == 404
    assert "secret plan" not in response.text
    api.close()


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 5001}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_paging_is_refused_naming_the_parameter(
    board: tuple[ApiUser, ApiUser, str], params: dict[str, Any], field: str
) -> None:
    _, viewer, workspace_id = board
    response = viewer.get(f"/workspaces/{workspace_id}/snapshot", params=params)
    assert response.status_code == 422
    assert field in response.text
