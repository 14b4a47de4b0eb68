"""Isolation between workspaces (PROTOCOL §2): whatever a caller cannot see answers 404, never 403,
exactly as if it did not exist, and nothing changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import tasks_of, workspace_state


@dataclass
class Ids:
    workspace: str
    task: str
    member: str  # a member of the workspace other than its owner


Request = Callable[[ApiUser, Ids], httpx.Response]

# Every path of a workspace, its members, its tasks and its events, with a body that would be valid.
PATHS: dict[str, Request] = {
    "GET workspace": lambda u, i: u.get(f"/workspaces/{i.workspace}"),
    "PATCH workspace": lambda u, i: u.patch(f"/workspaces/{i.workspace}", json={"name": "Hijacked"}),
    "DELETE workspace": lambda u, i: u.delete(f"/workspaces/{i.workspace}"),
    "GET members": lambda u, i: u.get(f"/workspaces/{i.workspace}/members"),
    "POST member": lambda u, i: u.post(
        f"/workspaces/{i.workspace}/members", json={"email": u.email, "role": "admin"}
    ),
    "PATCH member": lambda u, i: u.patch(
        f"/workspaces/{i.workspace}/members/{i.member}", json={"role": "viewer"}
    ),
    "DELETE member": lambda u, i: u.delete(f"/workspaces/{i.workspace}/members/{i.member}"),
    "GET tasks": lambda u, i: u.get(f"/workspaces/{i.workspace}/tasks"),
    "POST task": lambda u, i: u.post(f"/workspaces/{i.workspace}/tasks", json={"title": "Injected"}),
    "GET task": lambda u, i: u.get(f"/tasks/{i.task}"),
    "PATCH task": lambda u, i: u.patch(f"/tasks/{i.task}", json={"title": "Hijacked"}),
    "complete task": lambda u, i: u.post(f"/tasks/{i.task}/complete", json={"completed": True}),
    "move task": lambda u, i: u.post(f"/tasks/{i.task}/move", json={"status": "done"}),
    "DELETE task": lambda u, i: u.delete(f"/tasks/{i.task}"),
    "GET events": lambda u, i: u.get(f"/workspaces/{i.workspace}/events"),
}


@pytest.fixture
def foreign(api: Api) -> tuple[ApiUser, Ids]:
    """A workspace with a task and a second member, owned by someone else."""
    owner, member = api.register("Owner"), api.register("Member")
    workspace = owner.create_workspace("Private")
    owner.add_member(workspace["id"], member, "member")
    task = owner.create_task(workspace["id"], "Secret")
    return owner, Ids(workspace["id"], task["id"], member.id)


def outsiders(api: Api, owner: ApiUser, ids: Ids) -> dict[str, ApiUser]:
    """Someone with a workspace of their own (as owner, so no role check could stop them there), and a
    former admin of the foreign workspace, removed since."""
    stranger = api.register("Stranger")
    stranger.create_workspace("Own")
    former = api.register("Former")
    owner.add_member(ids.workspace, former, "admin")
    assert owner.delete(f"/workspaces/{ids.workspace}/members/{former.id}").status_code == 204
    return {"stranger": stranger, "former member": former}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_non_member_gets_404_on_every_path_and_changes_nothing(
    api: Api, foreign: tuple[ApiUser, Ids], path: str
) -> None:
    owner, ids = foreign
    people = outsiders(api, owner, ids)
    before = workspace_state(owner, ids.workspace)
    for who, user in people.items():
        response = PATHS[path](user, ids)
        assert response.status_code == 404, (who, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert workspace_state(owner, ids.workspace) == before


@pytest.mark.parametrize("path", list(PATHS))
def test_a_foreign_id_answers_exactly_like_an_id_that_does_not_exist(
    api: Api, foreign: tuple[ApiUser, Ids], path: str
) -> None:
    _owner, ids = foreign
    stranger = api.register("Stranger")
    missing = Ids(str(uuid.uuid4()), str(uuid.uuid4()), ids.member)
    existing = PATHS[path](stranger, ids)
    absent = PATHS[path](stranger, missing)
    assert (existing.status_code, existing.json()) == (absent.status_code, absent.json())


def test_a_foreign_workspace_never_appears_in_the_callers_list(
    api: Api, foreign: tuple[ApiUser, Ids]
) -> None:
    stranger = api.register("Stranger")
    own = stranger.create_workspace("Own")
    assert [w["id"] for w in stranger.get("/workspaces").json()["items"]] == [own["id"]]


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("beforeId", lambda foreign_task: {"status": "todo", "beforeId": foreign_task}),
        ("afterId", lambda foreign_task: {"status": "todo", "afterId": foreign_task}),
    ],
)
def test_a_task_of_another_workspace_cannot_be_used_as_a_neighbour(
    api: Api, foreign: tuple[ApiUser, Ids], field: str, body: Callable[[str], dict[str, Any]]
) -> None:
    owner, ids = foreign
    stranger = api.register("Stranger")
    own = stranger.create_workspace("Own")
    task = stranger.create_task(own["id"])
    before = workspace_state(owner, ids.workspace)
    response = stranger.post(f"/tasks/{task['id']}/move", json=body(ids.task))
    missing = stranger.post(f"/tasks/{task['id']}/move", json=body(str(uuid.uuid4())))
    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == [field]
    assert response.json() == missing.json()  # no hint that the foreign task exists
    assert tasks_of(stranger, own["id"]) == [task]
    assert workspace_state(owner, ids.workspace) == before


def test_a_task_cannot_be_assigned_to_someone_outside_the_workspace(
    api: Api, foreign: tuple[ApiUser, Ids]
) -> None:
    owner, ids = foreign
    stranger = api.register("Stranger")
    before = workspace_state(owner, ids.workspace)
    created = owner.post(f"/workspaces/{ids.workspace}/tasks", json={"title": "T", "assigneeId": stranger.id})
    edited = owner.patch(f"/tasks/{ids.task}", json={"assigneeId": stranger.id})
    for response in (created, edited):
        assert response.status_code == 422
        assert [entry["field"] for entry in response.json()["error"]["fields"]] == ["assigneeId"]
    assert workspace_state(owner, ids.workspace) == before
