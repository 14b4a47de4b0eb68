"""Tasks: create, read, list, edit, complete, delete, and bad bodies (PROTOCOL §2, Tasks)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, tasks_of, workspace_state

TASK_FIELDS = {
    "id",
    "workspaceId",
    "title",
    "description",
    "status",
    "position",
    "completed",
    "completedAt",
    "assigneeId",
    "dueDate",
    "priority",
    "labels",
    "createdBy",
    "createdAt",
    "updatedAt",
    "version",
}


def board(api: Api) -> tuple[ApiUser, str]:
    owner = api.register("Owner")
    return owner, owner.create_workspace()["id"]


def test_create_answers_201_with_every_field_and_the_defaults(api: Api) -> None:
    owner, wid = board(api)
    response = owner.post(f"/workspaces/{wid}/tasks", json={"title": "Write the plan"})
    assert response.status_code == 201
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert task["workspaceId"] == wid
    assert task["title"] == "Write the plan"
    assert task["description"] is None
    assert task["status"] == "todo"
    assert isinstance(task["position"], str) and task["position"]
    assert task["completed"] is False
    assert task["completedAt"] is None
    assert task["assigneeId"] is None
    assert task["dueDate"] is None
    assert task["priority"] == "medium"
    assert task["labels"] == []
    assert task["createdBy"] == owner.id
    assert task["createdAt"] == task["updatedAt"]
    assert task["createdAt"].endswith("Z")
    assert task["version"] == 1
    assert owner.get(f"/tasks/{task['id']}").json() == task


def test_create_with_every_optional_field(api: Api) -> None:
    owner, wid = board(api)
    bob = api.register("Bob")
    owner.add_member(wid, bob, "viewer")  # any member, whatever the role, may be assigned
    task = owner.create_task(
        wid,
        "Ship",
        description="All of it",
        status="in_progress",
        assigneeId=bob.id,
        dueDate="2031-05-04T12:30:00+02:00",
        priority="urgent",
    )
    assert task["description"] == "All of it"
    assert task["status"] == "in_progress"
    assert task["assigneeId"] == bob.id
    assert task["dueDate"] == "2031-05-04T10:30:00.000Z"  # normalized to UTC, milliseconds, Z
    assert task["priority"] == "urgent"


@pytest.mark.parametrize("length", [1, 500])
def test_titles_of_1_to_500_characters_are_accepted(api: Api, length: int) -> None:
    owner, wid = board(api)
    assert owner.create_task(wid, "é" * length)["title"] == "é" * length


def test_list_is_ordered_todo_then_in_progress_then_done_each_by_position(api: Api) -> None:
    owner, wid = board(api)
    created = [
        owner.create_task(wid, f"{status}-{n}", status=status)
        for n in range(3)
        for status in ("done", "in_progress", "todo")
    ]
    listed = tasks_of(owner, wid)
    by_title = {t["title"]: t for t in created}
    expected = [by_title[f"{s}-{n}"]["id"] for s in ("todo", "in_progress", "done") for n in range(3)]
    assert [t["id"] for t in listed] == expected
    for status in ("todo", "in_progress", "done"):
        positions = [t["position"] for t in listed if t["status"] == status]
        assert positions == sorted(positions, key=lambda p: p.encode())


def test_list_filters_by_status_completed_and_assignee(api: Api) -> None:
    owner, wid = board(api)
    bob = api.register("Bob")
    owner.add_member(wid, bob, "member")
    mine = owner.create_task(wid, "mine", assigneeId=owner.id)
    bobs = owner.create_task(wid, "bobs", assigneeId=bob.id, status="in_progress")
    loose = owner.create_task(wid, "loose")
    owner.post(f"/tasks/{loose['id']}/complete", json={"completed": True})

    def ids(**filters: Any) -> set[str]:
        return {t["id"] for t in tasks_of(owner, wid, **filters)}

    assert ids(status="todo") == {mine["id"]}
    assert ids(status="in_progress") == {bobs["id"]}
    assert ids(status="done") == {loose["id"]}  # completing moved it there (PROTOCOL §7)
    assert ids(completed="true") == {loose["id"]}
    assert ids(completed="false") == {mine["id"], bobs["id"]}
    assert ids(assigneeId=bob.id) == {bobs["id"]}
    assert ids(assigneeId=bob.id, status="todo") == set()


@pytest.mark.parametrize(("name", "value"), [("status", "later"), ("completed", "maybe")])
def test_list_with_a_bad_filter_answers_422_naming_it(api: Api, name: str, value: str) -> None:
    owner, wid = board(api)
    response = owner.get(f"/workspaces/{wid}/tasks", params={name: value})
    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == [name]


def test_patch_changes_the_fields_sent_and_raises_the_version_by_one(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid, "Old", description="Keep", priority="low")
    response = owner.patch(
        f"/tasks/{task['id']}", json={"title": "New", "priority": "high", "dueDate": "2030-01-01T00:00:00Z"}
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "New"
    assert updated["priority"] == "high"
    assert updated["dueDate"] == "2030-01-01T00:00:00.000Z"
    assert updated["description"] == "Keep"
    assert updated["version"] == 2
    assert updated["updatedAt"] >= task["updatedAt"]
    changed = {"title", "priority", "dueDate", "version", "updatedAt"}
    assert {k: v for k, v in updated.items() if k not in changed} == {
        k: v for k, v in task.items() if k not in changed
    }
    assert owner.get(f"/tasks/{task['id']}").json() == updated


def test_patch_with_explicit_nulls_clears_the_nullable_fields(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid, "T", description="D", assigneeId=owner.id, dueDate="2030-01-01T00:00:00Z")
    updated = owner.patch(
        f"/tasks/{task['id']}", json={"description": None, "assigneeId": None, "dueDate": None}
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["description"], body["assigneeId"], body["dueDate"]) == (None, None, None)
    assert body["version"] == 2


def test_patch_with_an_empty_body_changes_nothing(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid)
    response = owner.patch(f"/tasks/{task['id']}", json={})
    assert response.status_code == 200
    assert response.json() == task


def test_complete_and_uncomplete_set_and_clear_completed_at(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid)
    done = owner.post(f"/tasks/{task['id']}/complete", json={"completed": True})
    assert done.status_code == 200
    assert done.json()["completed"] is True
    assert done.json()["completedAt"] is not None
    assert done.json()["version"] == 2
    undone = owner.post(f"/tasks/{task['id']}/complete", json={"completed": False}).json()
    assert undone["completed"] is False
    assert undone["completedAt"] is None
    assert undone["version"] == 3


def test_delete_answers_204_and_the_task_leaves_the_board_for_the_trash(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid)
    keep = owner.create_task(wid, "Keep")
    response = owner.delete(f"/tasks/{task['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert owner.get(f"/tasks/{task['id']}").status_code == 404
    assert tasks_of(owner, wid) == [keep]
    for again in (
        owner.delete(f"/tasks/{task['id']}"),
        owner.patch(f"/tasks/{task['id']}", json={"title": "x"}),
        owner.post(f"/tasks/{task['id']}/move", json={"status": "done"}),
        owner.post(f"/tasks/{task['id']}/complete", json={"completed": True}),
    ):
        assert again.status_code == 404
    # Not gone for good: it is in the trash (tests/api/test_trash.py).
    trashed = owner.get(f"/workspaces/{wid}/trash").json()["items"]
    assert [t["id"] for t in trashed] == [task["id"]]


def test_an_unknown_task_id_answers_404(api: Api) -> None:
    owner, _wid = board(api)
    response = owner.get(f"/tasks/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_a_removed_assignee_can_no_longer_be_assigned(api: Api) -> None:
    owner, wid = board(api)
    bob = api.register("Bob")
    owner.add_member(wid, bob)
    owner.delete(f"/workspaces/{wid}/members/{bob.id}")
    response = owner.post(f"/workspaces/{wid}/tasks", json={"title": "T", "assigneeId": bob.id})
    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == ["assigneeId"]


# --- bad bodies: 422 naming the failing fields, nothing written ---------------------------------

BAD_CREATES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "missing title": ({}, {"title"}),
    "empty title": ({"title": ""}, {"title"}),
    "501-char title": ({"title": "x" * 501}, {"title"}),
    "null title": ({"title": None}, {"title"}),
    "numeric title": ({"title": 12}, {"title"}),
    "bad status": ({"title": "T", "status": "blocked"}, {"status"}),
    "bad priority": ({"title": "T", "priority": "critical"}, {"priority"}),
    "bad dueDate": ({"title": "T", "dueDate": "next tuesday"}, {"dueDate"}),
    "impossible dueDate": ({"title": "T", "dueDate": "2030-02-30T10:00:00Z"}, {"dueDate"}),
    "numeric dueDate": ({"title": "T", "dueDate": 1700000000}, {"dueDate"}),
    "huge description": ({"title": "T", "description": "d" * 20_001}, {"description"}),
    "several at once": ({"title": "", "status": "Later!", "priority": "y"}, {"title", "status", "priority"}),
}


@pytest.mark.parametrize("case", list(BAD_CREATES))
def test_create_with_a_bad_body_answers_422_naming_the_fields_and_writes_nothing(api: Api, case: str) -> None:
    body, fields = BAD_CREATES[case]
    owner, wid = board(api)
    existing = owner.create_task(wid, "Existing")
    before = workspace_state(owner, wid)
    response = owner.post(f"/workspaces/{wid}/tasks", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {entry["field"] for entry in error["fields"]} == fields
    assert all(entry["message"] for entry in error["fields"])
    after = workspace_state(owner, wid)
    assert after == before
    assert after["tasks"] == [existing]


BAD_PATCHES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "null title": ({"title": None}, {"title"}),
    "empty title": ({"title": ""}, {"title"}),
    "501-char title": ({"title": "x" * 501}, {"title"}),
    "null priority": ({"priority": None}, {"priority"}),
    "bad priority": ({"priority": "asap"}, {"priority"}),
    "bad dueDate": ({"dueDate": "soon"}, {"dueDate"}),
    "zero baseVersion": ({"title": "T", "baseVersion": 0}, {"baseVersion"}),
    "text baseVersion": ({"title": "T", "baseVersion": "one"}, {"baseVersion"}),
    "mixed good and bad": ({"title": "Fine", "priority": "bad"}, {"priority"}),
}


@pytest.mark.parametrize("case", list(BAD_PATCHES))
def test_patch_with_a_bad_body_answers_422_naming_the_fields_and_changes_nothing(api: Api, case: str) -> None:
    body, fields = BAD_PATCHES[case]
    owner, wid = board(api)
    task = owner.create_task(wid, "Stable")
    before = workspace_state(owner, wid)
    response = owner.patch(f"/tasks/{task['id']}", json=body)
    assert response.status_code == 422
    assert {entry["field"] for entry in response.json()["error"]["fields"]} == fields
    assert workspace_state(owner, wid) == before


BAD_MOVES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "missing status": ({}, {"status"}),
    "bad status": ({"status": "archived"}, {"status"}),
    "zero baseVersion": ({"status": "done", "baseVersion": 0}, {"baseVersion"}),
    "unknown beforeId": ({"status": "todo", "beforeId": "no-such-task"}, {"beforeId"}),
    "unknown afterId": ({"status": "todo", "afterId": "no-such-task"}, {"afterId"}),
    "itself as neighbour": ({"status": "todo", "beforeId": "{self}"}, {"beforeId"}),
    "neighbour in another column": ({"status": "done", "afterId": "{other}"}, {"afterId"}),
    "neighbours in the wrong order": (
        {"status": "todo", "beforeId": "{third}", "afterId": "{other}"},
        {"afterId"},
    ),
}


@pytest.mark.parametrize("case", list(BAD_MOVES))
def test_move_with_a_bad_body_answers_422_naming_the_fields_and_changes_nothing(api: Api, case: str) -> None:
    body, fields = BAD_MOVES[case]
    owner, wid = board(api)
    task = owner.create_task(wid, "Mover")
    other = owner.create_task(wid, "Other")
    third = owner.create_task(wid, "Third")
    names = {"{self}": task["id"], "{other}": other["id"], "{third}": third["id"]}
    sent = {key: names.get(value, value) if isinstance(value, str) else value for key, value in body.items()}
    before = workspace_state(owner, wid)
    response = owner.post(f"/tasks/{task['id']}/move", json=sent)
    assert response.status_code == 422
    assert {entry["field"] for entry in response.json()["error"]["fields"]} == fields
    assert workspace_state(owner, wid) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"completed": None}, {"completed": [True]}, {"completed": "yes"}, {"completed": 1}],
    ids=["missing", "null", "list", "string", "number"],
)
def test_complete_with_a_bad_body_answers_422_and_changes_nothing(api: Api, body: dict[str, Any]) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid)
    before = workspace_state(owner, wid)
    response = owner.post(f"/tasks/{task['id']}/complete", json=body)
    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == ["completed"]
    assert workspace_state(owner, wid) == before
    assert events_of(owner, wid)[-1]["type"] == "TASK_CREATED"


def test_a_due_date_is_kept_at_the_wire_precision_so_echoing_it_back_is_no_change(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid, dueDate="2031-01-02T03:04:05.678901Z")
    assert task["dueDate"] == "2031-01-02T03:04:05.678Z"
    echoed = owner.patch(f"/tasks/{task['id']}", json={"dueDate": task["dueDate"]})
    assert echoed.json() == task
    assert [e["type"] for e in events_of(owner, wid)] == ["TASK_CREATED"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"status": "done"}, "status"),
        ("", {"title": "New", "position": "a0"}, "position"),
        ("/move", {"status": "done", "title": "New"}, "title"),
    ],
    ids=["patch-status", "patch-position", "move-title"],
)
def test_a_field_the_endpoint_does_not_take_answers_422_and_changes_nothing(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid)
    before = workspace_state(owner, wid)
    method = owner.patch if path == "" else owner.post
    response = method(f"/tasks/{task['id']}{path}", json=body)
    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == [field]
    assert workspace_state(owner, wid) == before
