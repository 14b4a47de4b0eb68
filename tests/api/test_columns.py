"""A workspace's own columns and the one meaning of done (PROTOCOL §7): a task is completed exactly
when its column is a done column, in every path that writes it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, tasks_of, workspace_state

DEFAULT = [
    {"key": "todo", "name": "To do", "done": False},
    {"key": "in_progress", "name": "In progress", "done": False},
    {"key": "done", "name": "Done", "done": True},
]
REVIEW = [
    {"key": "todo", "name": "Backlog", "done": False},
    {"key": "review", "name": "In review", "done": False},
    {"key": "in_progress", "name": "In progress", "done": False},
    {"key": "done", "name": "Done", "done": True},
    {"key": "archived", "name": "Archived", "done": True},
]


def board(api: Api) -> tuple[ApiUser, str]:
    owner = api.register("Owner")
    return owner, owner.create_workspace("Columns")["id"]


def set_columns(user: ApiUser, workspace_id: str, columns: list[dict[str, Any]]) -> Any:
    return user.patch(f"/workspaces/{workspace_id}", json={"columns": columns})


def column_of(tasks: list[dict[str, Any]], status: str) -> list[str]:
    return [task["title"] for task in tasks if task["status"] == status]


def test_a_new_workspace_has_the_three_columns_of_v1(api: Api) -> None:
    owner, workspace_id = board(api)
    assert owner.get(f"/workspaces/{workspace_id}").json()["columns"] == DEFAULT


def test_creating_in_a_done_column_completes_and_leaving_out_the_status_picks_the_first_open_one(
    api: Api,
) -> None:
    owner, workspace_id = board(api)
    plain = owner.create_task(workspace_id, "plain")
    finished = owner.create_task(workspace_id, "finished", status="done")
    assert (plain["status"], plain["completed"], plain["completedAt"]) == ("todo", False, None)
    assert (finished["status"], finished["completed"]) == ("done", True)
    assert finished["completedAt"] is not None


def test_completing_moves_to_the_end_of_the_first_done_column_and_back(api: Api) -> None:
    owner, workspace_id = board(api)
    assert set_columns(owner, workspace_id, REVIEW).status_code == 200
    owner.create_task(workspace_id, "already done", status="done")
    owner.create_task(workspace_id, "open one", status="review")
    task = owner.create_task(workspace_id, "ship it", status="review")

    done = owner.post(f"/tasks/{task['id']}/complete", json={"completed": True}).json()
    assert (done["status"], done["completed"]) == ("done", True)
    assert column_of(tasks_of(owner, workspace_id), "done") == ["already done", "ship it"]

    again = owner.post(f"/tasks/{task['id']}/complete", json={"completed": True}).json()
    assert again["version"] == done["version"]  # already done: nothing changes

    reopened = owner.post(f"/tasks/{task['id']}/complete", json={"completed": False}).json()
    assert (reopened["status"], reopened["completed"], reopened["completedAt"]) == ("todo", False, None)
    assert column_of(tasks_of(owner, workspace_id), "todo") == ["ship it"]

    completed = [e for e in events_of(owner, workspace_id) if e["type"] == "TASK_COMPLETED"]
    assert [(e["data"]["task"]["status"], e["data"]["task"]["completed"]) for e in completed] == [
        ("done", True),
        ("todo", False),
    ]


def test_moving_sets_completed_from_the_column_it_lands_in(api: Api) -> None:
    owner, workspace_id = board(api)
    assert set_columns(owner, workspace_id, REVIEW).status_code == 200
    task = owner.create_task(workspace_id, "moving")

    into_done = owner.post(f"/tasks/{task['id']}/move", json={"status": "done"}).json()
    assert (into_done["completed"], into_done["completedAt"] is not None) == (True, True)
    archived = owner.post(f"/tasks/{task['id']}/move", json={"status": "archived"}).json()
    assert archived["completed"] is True
    assert archived["completedAt"] == into_done["completedAt"]  # still done: the same moment
    back = owner.post(f"/tasks/{task['id']}/move", json={"status": "review"}).json()
    assert (back["completed"], back["completedAt"]) == (False, None)

    moves = [
        e["data"]["task"]["completed"] for e in events_of(owner, workspace_id) if e["type"] == "TASK_MOVED"
    ]
    assert moves == [True, True, False]
    assert all(t["completed"] == (t["status"] in ("done", "archived")) for t in tasks_of(owner, workspace_id))


def test_admins_add_rename_and_reorder_columns_and_the_list_follows_their_order(api: Api) -> None:
    owner, workspace_id = board(api)
    first = owner.create_task(workspace_id, "first", status="done")
    second = owner.create_task(workspace_id, "second", status="todo")
    reordered = [DEFAULT[2], {"key": "todo", "name": "Later", "done": False}, DEFAULT[1]]
    response = set_columns(owner, workspace_id, reordered)
    assert response.status_code == 200, response.text
    assert response.json()["columns"] == reordered
    assert [t["id"] for t in tasks_of(owner, workspace_id)] == [first["id"], second["id"]]

    updated = [e for e in events_of(owner, workspace_id) if e["type"] == "WORKSPACE_UPDATED"]
    assert updated[-1]["data"]["workspace"]["columns"] == reordered
    same = set_columns(owner, workspace_id, reordered)
    assert same.json()["seq"] == response.json()["seq"]  # no change, no event


def test_a_member_cannot_change_columns(api: Api) -> None:
    owner, workspace_id = board(api)
    member = api.register("Member")
    owner.add_member(workspace_id, member, "member")
    assert set_columns(member, workspace_id, REVIEW).status_code == 403
    assert owner.get(f"/workspaces/{workspace_id}").json()["columns"] == DEFAULT


def test_a_column_that_holds_tasks_is_neither_removed_nor_flipped_and_nothing_changes(api: Api) -> None:
    owner, workspace_id = board(api)
    task = owner.create_task(workspace_id, "still here", status="in_progress")
    before = workspace_state(owner, workspace_id)

    removed = set_columns(owner, workspace_id, [DEFAULT[0], DEFAULT[2]])
    assert removed.status_code == 409
    assert removed.json()["error"]["code"] == "COLUMN_NOT_EMPTY"
    assert "in_progress" in removed.json()["error"]["message"]
    flipped = set_columns(owner, workspace_id, [DEFAULT[0], {**DEFAULT[1], "done": True}, DEFAULT[2]])
    assert flipped.status_code == 409
    assert workspace_state(owner, workspace_id) == before

    owner.delete(f"/tasks/{task['id']}")  # to the trash, where a task holds no column
    emptied = set_columns(owner, workspace_id, [DEFAULT[0], DEFAULT[2]])
    assert emptied.status_code == 200, emptied.text
    assert [c["key"] for c in emptied.json()["columns"]] == ["todo", "done"]


@pytest.mark.parametrize(
    "columns",
    [
        [{"key": "todo", "name": "A"}, {"key": "todo", "name": "B", "done": True}],  # the same key twice
        [{"key": "todo", "name": "A"}, {"key": "later", "name": "B"}],  # no done column
        [
            {"key": "done", "name": "A", "done": True},
            {"key": "shipped", "name": "B", "done": True},
        ],  # all done
        [{"key": "To Do", "name": "A"}, {"key": "done", "name": "B", "done": True}],  # not a key
        [{"key": "todo", "name": " "}, {"key": "done", "name": "B", "done": True}],  # no name
        [{"key": "done", "name": "Only", "done": True}],  # fewer than two
    ],
)
def test_columns_that_break_the_rules_are_422_and_change_nothing(
    api: Api, columns: list[dict[str, Any]]
) -> None:
    owner, workspace_id = board(api)
    response = set_columns(owner, workspace_id, columns)
    assert response.status_code == 422, response.text
    assert any("columns" in str(entry["field"]) for entry in response.json()["error"]["fields"])
    assert owner.get(f"/workspaces/{workspace_id}").json()["columns"] == DEFAULT


def test_a_status_that_is_not_a_column_of_the_workspace_is_422_everywhere(api: Api) -> None:
    owner, workspace_id = board(api)
    task = owner.create_task(workspace_id, "here")
    created = owner.post(f"/workspaces/{workspace_id}/tasks", json={"title": "t", "status": "review"})
    moved = owner.post(f"/tasks/{task['id']}/move", json={"status": "review"})
    listed = owner.get(f"/workspaces/{workspace_id}/tasks", params={"status": "review"})
    for response in (created, moved, listed):
        assert response.status_code == 422, response.text
        assert [entry["field"] for entry in response.json()["error"]["fields"]] == ["status"]
    assert [t["id"] for t in tasks_of(owner, workspace_id)] == [task["id"]]
