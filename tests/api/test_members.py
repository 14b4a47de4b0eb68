"""Members of a workspace: list, add, change role, remove, leave (PROTOCOL §2, Workspaces)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.observe import events_of, members_of, workspace_state

# `kind` (PROTOCOL §5.3): "person", or "service" for the member of an API key.
MEMBER_FIELDS = {"userId", "email", "name", "role", "joinedAt", "kind"}


def test_a_new_workspace_lists_its_owner_as_the_only_member(api: Api) -> None:
    alice = api.register("Alice")
    workspace = alice.create_workspace()
    [owner] = members_of(alice, workspace["id"])
    assert set(owner) == MEMBER_FIELDS
    assert owner["userId"] == alice.id
    assert owner["email"] == alice.email
    assert owner["name"] == "Alice"
    assert owner["role"] == "owner"


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_add_member_by_email_answers_201_and_grants_the_role(api: Api, role: str) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    response = alice.post(
        f"/workspaces/{workspace['id']}/members", json={"email": bob.email.upper(), "role": role}
    )
    assert response.status_code == 201
    member = response.json()
    assert set(member) == MEMBER_FIELDS
    assert (member["userId"], member["email"], member["name"], member["role"]) == (
        bob.id,
        bob.email,
        "Bob",
        role,
    )
    assert bob.get(f"/workspaces/{workspace['id']}").json()["role"] == role
    assert member in members_of(bob, workspace["id"])


def test_add_member_with_an_unknown_email_answers_404(api: Api) -> None:
    alice = api.register()
    workspace = alice.create_workspace()
    before = workspace_state(alice, workspace["id"])
    response = alice.post(
        f"/workspaces/{workspace['id']}/members", json={"email": "nobody.here@example.test", "role": "member"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert workspace_state(alice, workspace["id"]) == before


@pytest.mark.parametrize("existing_role", ["owner", "viewer"])
def test_add_member_who_already_belongs_answers_409_and_keeps_their_role(
    api: Api, existing_role: str
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    target = alice
    if existing_role == "viewer":
        alice.add_member(workspace["id"], bob, "viewer")
        target = bob
    before = workspace_state(alice, workspace["id"])
    response = alice.post(
        f"/workspaces/{workspace['id']}/members", json={"email": target.email, "role": "admin"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ALREADY_EXISTS"
    assert workspace_state(alice, workspace["id"]) == before


BAD_ADDS: list[tuple[dict[str, Any], set[str]]] = [
    ({"email": "{bob}", "role": "owner"}, {"role"}),
    ({"email": "{bob}", "role": "superuser"}, {"role"}),
    ({"email": "{bob}"}, {"role"}),
    ({"email": "not-an-email", "role": "member"}, {"email"}),
    ({"role": "member"}, {"email"}),
    ({"email": "nope", "role": "god"}, {"email", "role"}),
]


@pytest.mark.parametrize(
    ("body", "fields"), BAD_ADDS, ids=["owner", "unknown", "no-role", "bad-email", "no-email", "both"]
)
def test_add_member_with_a_bad_body_answers_422_and_adds_nobody(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    before = workspace_state(alice, workspace["id"])
    sent = {key: (bob.email if value == "{bob}" else value) for key, value in body.items()}
    response = alice.post(f"/workspaces/{workspace['id']}/members", json=sent)
    assert response.status_code == 422
    assert {entry["field"] for entry in response.json()["error"]["fields"]} == fields
    assert workspace_state(alice, workspace["id"]) == before


def test_change_role_answers_the_member_with_the_new_role(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    added = alice.add_member(workspace["id"], bob, "viewer")
    response = alice.patch(f"/workspaces/{workspace['id']}/members/{bob.id}", json={"role": "admin"})
    assert response.status_code == 200
    assert response.json() == {**added, "role": "admin"}
    assert bob.get(f"/workspaces/{workspace['id']}").json()["role"] == "admin"


@pytest.mark.parametrize("role", ["owner", "editor", None])
def test_change_role_to_an_unassignable_role_answers_422_and_keeps_the_role(
    api: Api, role: str | None
) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    alice.add_member(workspace["id"], bob, "member")
    before = workspace_state(alice, workspace["id"])
    response = alice.patch(f"/workspaces/{workspace['id']}/members/{bob.id}", json={"role": role})
    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == ["role"]
    assert workspace_state(alice, workspace["id"]) == before


def test_change_role_of_someone_who_is_not_a_member_answers_404(api: Api) -> None:
    alice, stranger = api.register("Alice"), api.register("Stranger")
    workspace = alice.create_workspace()
    response = alice.patch(f"/workspaces/{workspace['id']}/members/{stranger.id}", json={"role": "admin"})
    assert response.status_code == 404
    assert alice.delete(f"/workspaces/{workspace['id']}/members/{stranger.id}").status_code == 404
    assert stranger.get(f"/workspaces/{workspace['id']}").status_code == 404


def test_removed_member_loses_access_and_disappears_from_the_list(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    alice.add_member(workspace["id"], bob, "admin")
    response = alice.delete(f"/workspaces/{workspace['id']}/members/{bob.id}")
    assert response.status_code == 204
    assert [m["userId"] for m in members_of(alice, workspace["id"])] == [alice.id]
    assert bob.get(f"/workspaces/{workspace['id']}").status_code == 404
    assert bob.get("/workspaces").json()["items"] == []


def test_a_removed_member_can_be_added_again(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    alice.add_member(workspace["id"], bob, "member")
    alice.delete(f"/workspaces/{workspace['id']}/members/{bob.id}")
    again = alice.add_member(workspace["id"], bob, "viewer")
    assert again["role"] == "viewer"
    types = [e["type"] for e in events_of(alice, workspace["id"])]
    assert types == ["WORKSPACE_MEMBER_ADDED", "WORKSPACE_MEMBER_REMOVED", "WORKSPACE_MEMBER_ADDED"]
