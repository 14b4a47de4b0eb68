"""Workspaces: create, list, read, edit and delete (PROTOCOL §2, Workspaces)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.observe import events_of, workspace_state

WORKSPACE_FIELDS = {
    "id",
    "name",
    "description",
    "ownerId",
    "role",
    "seq",
    "columns",
    "createdAt",
    "updatedAt",
}


def test_create_answers_201_with_the_workspace_and_the_callers_owner_role(api: Api) -> None:
    alice = api.register("Alice")
    response = alice.post("/workspaces", json={"name": "Launch", "description": "Q3 plan"})
    assert response.status_code == 201
    workspace = response.json()
    assert set(workspace) == WORKSPACE_FIELDS
    assert workspace["name"] == "Launch"
    assert workspace["description"] == "Q3 plan"
    assert workspace["ownerId"] == alice.id
    assert workspace["role"] == "owner"
    assert workspace["seq"] == 0
    assert workspace["createdAt"] == workspace["updatedAt"]
    assert alice.get(f"/workspaces/{workspace['id']}").json() == workspace


def test_description_is_optional_and_names_are_trimmed(api: Api) -> None:
    alice = api.register()
    workspace = alice.create_workspace("  Spaced  ")
    assert workspace["name"] == "Spaced"
    assert workspace["description"] is None


def test_list_holds_exactly_the_callers_workspaces_with_their_own_role(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    first = alice.create_workspace("First")
    second = alice.create_workspace("Second")
    bobs = bob.create_workspace("Bob's")
    alice.add_member(first["id"], bob, "viewer")

    alice_items = alice.get("/workspaces").json()["items"]
    assert [w["id"] for w in alice_items] == [first["id"], second["id"]]
    assert {w["role"] for w in alice_items} == {"owner"}

    bob_items = {w["id"]: w for w in bob.get("/workspaces").json()["items"]}
    assert set(bob_items) == {first["id"], bobs["id"]}
    assert bob_items[first["id"]]["role"] == "viewer"
    assert bob_items[bobs["id"]]["role"] == "owner"


def test_read_by_a_member_shows_their_role_and_the_latest_seq(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    alice.add_member(workspace["id"], bob, "member")
    alice.create_task(workspace["id"])
    seen = bob.get(f"/workspaces/{workspace['id']}").json()
    assert seen["role"] == "member"
    assert seen["seq"] == 2  # member added, task created


def test_patch_changes_only_the_fields_sent_and_advances_updated_at(api: Api) -> None:
    alice = api.register()
    workspace = alice.create_workspace("Old", description="Keep me")
    response = alice.patch(f"/workspaces/{workspace['id']}", json={"name": "New"})
    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "New"
    assert updated["description"] == "Keep me"
    assert updated["role"] == "owner"
    assert updated["seq"] == 1
    assert updated["updatedAt"] >= workspace["updatedAt"]
    assert updated["createdAt"] == workspace["createdAt"]
    assert alice.get(f"/workspaces/{workspace['id']}").json() == updated


def test_patch_with_null_description_clears_it_and_null_name_leaves_the_name(api: Api) -> None:
    alice = api.register()
    workspace = alice.create_workspace("Name", description="Text")
    updated = alice.patch(f"/workspaces/{workspace['id']}", json={"name": None, "description": None}).json()
    assert updated["name"] == "Name"
    assert updated["description"] is None
    assert [e["type"] for e in events_of(alice, workspace["id"])] == ["WORKSPACE_UPDATED"]


def test_delete_answers_204_and_the_workspace_is_gone_for_every_member(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace = alice.create_workspace()
    wid = workspace["id"]
    alice.add_member(wid, bob, "admin")
    task = alice.create_task(wid)

    response = alice.delete(f"/workspaces/{wid}")
    assert response.status_code == 204
    assert response.content == b""
    for user in (alice, bob):
        for path in (f"/workspaces/{wid}", f"/workspaces/{wid}/tasks", f"/workspaces/{wid}/members"):
            assert user.get(path).status_code == 404, path
        assert user.get(f"/workspaces/{wid}/events").status_code == 404
        assert user.get(f"/tasks/{task['id']}").status_code == 404
        assert wid not in {w["id"] for w in user.get("/workspaces").json()["items"]}
    assert alice.delete(f"/workspaces/{wid}").status_code == 404


BAD_CREATES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"name"}),
    ({"name": ""}, {"name"}),
    ({"name": "   "}, {"name"}),
    ({"name": "x" * 201}, {"name"}),
    ({"name": 42}, {"name"}),
    ({"name": None}, {"name"}),
    ({"name": "ok", "description": "d" * 20_001}, {"description"}),
    ({"name": "ok", "description": 7}, {"description"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD_CREATES, ids=[str(i) for i in range(len(BAD_CREATES))])
def test_create_with_a_bad_body_answers_422_naming_the_fields_and_creates_nothing(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    alice = api.register()
    response = alice.post("/workspaces", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {entry["field"] for entry in error["fields"]} == fields
    assert alice.get("/workspaces").json()["items"] == []


def test_create_with_a_non_json_body_answers_422(api: Api) -> None:
    alice = api.register()
    response = alice.post("/workspaces", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"]
    assert alice.get("/workspaces").json()["items"] == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [({"name": ""}, {"name"}), ({"name": "x" * 201}, {"name"}), ({"description": ["a"]}, {"description"})],
    ids=["empty-name", "long-name", "list-description"],
)
def test_patch_with_a_bad_body_answers_422_and_changes_nothing(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    alice = api.register()
    workspace = alice.create_workspace("Stable")
    before = workspace_state(alice, workspace["id"])
    response = alice.patch(f"/workspaces/{workspace['id']}", json=body)
    assert response.status_code == 422
    assert {entry["field"] for entry in response.json()["error"]["fields"]} == fields
    assert workspace_state(alice, workspace["id"]) == before
