"""The role matrix (PROTOCOL §2): viewer reads; member+ writes tasks; admin+ edits the workspace and
its members; only the owner deletes it. The owner can be neither removed nor demoted, and anyone
may leave. A role too low answers 403 FORBIDDEN and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import members_of, workspace_state

ROLES = ["owner", "admin", "member", "viewer"]
RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


@dataclass
class Scene:
    owner: ApiUser
    actor: ApiUser  # the one whose role is under test (the owner itself for "owner")
    target: ApiUser  # a plain member, for actions on someone else's membership
    outsider: ApiUser  # registered, in no workspace: someone to add
    workspace_id: str
    task: dict[str, Any]
    neighbour: dict[str, Any]


def make_scene(api: Api, role: str) -> Scene:
    owner = api.register("Owner")
    actor = owner if role == "owner" else api.register("Actor")
    target, outsider = api.register("Target"), api.register("Outsider")
    workspace = owner.create_workspace()
    wid = workspace["id"]
    if role != "owner":
        owner.add_member(wid, actor, role)
    owner.add_member(wid, target, "member")
    task = owner.create_task(wid, "First")
    neighbour = owner.create_task(wid, "Second")
    return Scene(owner, actor, target, outsider, wid, task, neighbour)


Action = Callable[[Scene], httpx.Response]

# name -> (lowest role allowed, status when allowed, the request)
ACTIONS: dict[str, tuple[str, int, Action]] = {
    "read workspace": ("viewer", 200, lambda s: s.actor.get(f"/workspaces/{s.workspace_id}")),
    "list members": ("viewer", 200, lambda s: s.actor.get(f"/workspaces/{s.workspace_id}/members")),
    "list tasks": ("viewer", 200, lambda s: s.actor.get(f"/workspaces/{s.workspace_id}/tasks")),
    "read task": ("viewer", 200, lambda s: s.actor.get(f"/tasks/{s.task['id']}")),
    "read events": ("viewer", 200, lambda s: s.actor.get(f"/workspaces/{s.workspace_id}/events")),
    "create task": (
        "member",
        201,
        lambda s: s.actor.post(f"/workspaces/{s.workspace_id}/tasks", json={"title": "New"}),
    ),
    "edit task": ("member", 200, lambda s: s.actor.patch(f"/tasks/{s.task['id']}", json={"title": "Edited"})),
    "complete task": (
        "member",
        200,
        lambda s: s.actor.post(f"/tasks/{s.task['id']}/complete", json={"completed": True}),
    ),
    "move task": (
        "member",
        200,
        lambda s: s.actor.post(
            f"/tasks/{s.task['id']}/move", json={"status": "todo", "beforeId": s.neighbour["id"]}
        ),
    ),
    "delete task": ("member", 204, lambda s: s.actor.delete(f"/tasks/{s.task['id']}")),
    "edit workspace": (
        "admin",
        200,
        lambda s: s.actor.patch(f"/workspaces/{s.workspace_id}", json={"name": "Renamed"}),
    ),
    "add member": (
        "admin",
        201,
        lambda s: s.actor.post(
            f"/workspaces/{s.workspace_id}/members", json={"email": s.outsider.email, "role": "viewer"}
        ),
    ),
    "change a member's role": (
        "admin",
        200,
        lambda s: s.actor.patch(
            f"/workspaces/{s.workspace_id}/members/{s.target.id}", json={"role": "viewer"}
        ),
    ),
    "remove a member": (
        "admin",
        204,
        lambda s: s.actor.delete(f"/workspaces/{s.workspace_id}/members/{s.target.id}"),
    ),
    "delete workspace": ("owner", 204, lambda s: s.actor.delete(f"/workspaces/{s.workspace_id}")),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_role_may_do_exactly_what_its_rank_allows(api: Api, action: str, role: str) -> None:
    minimum, allowed_status, perform = ACTIONS[action]
    scene = make_scene(api, role)
    before = workspace_state(scene.owner, scene.workspace_id)
    response = perform(scene)
    if RANK[role] >= RANK[minimum]:
        assert response.status_code == allowed_status, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "FORBIDDEN"
        assert workspace_state(scene.owner, scene.workspace_id) == before


OWNER_PROTECTION: dict[str, Callable[[Scene], httpx.Response]] = {
    **{
        f"demote the owner to {new_role}": (
            lambda s, r=new_role: s.actor.patch(
                f"/workspaces/{s.workspace_id}/members/{s.owner.id}", json={"role": r}
            )
        )
        for new_role in ("admin", "member", "viewer")
    },
    "remove the owner": lambda s: s.actor.delete(f"/workspaces/{s.workspace_id}/members/{s.owner.id}"),
}


@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.parametrize("action", list(OWNER_PROTECTION))
def test_the_owner_can_be_neither_removed_nor_demoted(api: Api, action: str, role: str) -> None:
    scene = make_scene(api, role)
    before = workspace_state(scene.owner, scene.workspace_id)
    response = OWNER_PROTECTION[action](scene)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert workspace_state(scene.owner, scene.workspace_id) == before


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_a_member_of_any_role_may_leave_by_deleting_their_own_membership(api: Api, role: str) -> None:
    scene = make_scene(api, role)
    response = scene.actor.delete(f"/workspaces/{scene.workspace_id}/members/{scene.actor.id}")
    assert response.status_code == 204
    assert scene.actor.id not in {m["userId"] for m in members_of(scene.owner, scene.workspace_id)}
    assert scene.actor.get(f"/workspaces/{scene.workspace_id}").status_code == 404


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_below_admin_a_member_cannot_promote_themselves(api: Api, role: str) -> None:
    scene = make_scene(api, role)
    before = workspace_state(scene.owner, scene.workspace_id)
    promote_self = scene.actor.patch(
        f"/workspaces/{scene.workspace_id}/members/{scene.actor.id}", json={"role": "admin"}
    )
    assert promote_self.status_code == 403
    assert workspace_state(scene.owner, scene.workspace_id) == before
