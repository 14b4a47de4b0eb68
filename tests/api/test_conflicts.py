"""Concurrent edits with `baseVersion` (PROTOCOL §2, Conflicts): changes to fields nobody else touched
since that version merge; a field someone else changed answers 409 CONFLICT with the current task;
without `baseVersion` the last write wins."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, workspace_state


def two_editors(api: Api) -> tuple[ApiUser, ApiUser, str, dict[str, Any]]:
    alice, bob = api.register("Alice"), api.register("Bob")
    wid = alice.create_workspace()["id"]
    alice.add_member(wid, bob, "member")
    task = alice.create_task(wid, "Original", description="Plain", priority="low")
    return alice, bob, wid, task


def patch(user: ApiUser, task_id: str, **body: Any) -> dict[str, Any]:
    response = user.patch(f"/tasks/{task_id}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_edits_of_different_fields_from_the_same_version_merge(api: Api) -> None:
    alice, bob, wid, task = two_editors(api)
    base = task["version"]
    patch(alice, task["id"], title="Alice's title", baseVersion=base)
    merged = patch(bob, task["id"], priority="high", description="Bob's", baseVersion=base)
    assert (merged["title"], merged["priority"], merged["description"]) == ("Alice's title", "high", "Bob's")
    assert merged["version"] == base + 2
    assert alice.get(f"/tasks/{task['id']}").json() == merged
    updates = [e["data"]["changes"] for e in events_of(alice, wid) if e["type"] == "TASK_UPDATED"]
    assert updates == [["title"], ["description", "priority"]]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"title": "Alice's"}, {"title": "Bob's"}),
        ({"dueDate": "2030-01-01T00:00:00Z"}, {"dueDate": None}),
        ({"assigneeId": "{alice}"}, {"assigneeId": "{bob}"}),
        ({"title": "Alice's"}, {"title": "Original"}),  # reverting someone else's change is a change too
    ],
    ids=["title", "dueDate", "assigneeId", "revert"],
)
def test_an_edit_of_a_field_changed_since_the_base_version_answers_409_with_the_current_task(
    api: Api, first: dict[str, Any], second: dict[str, Any]
) -> None:
    alice, bob, wid, task = two_editors(api)
    names = {"{alice}": alice.id, "{bob}": bob.id}

    def fill(body: dict[str, Any]) -> dict[str, Any]:
        return {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}

    base = task["version"]
    current = patch(alice, task["id"], **fill(first), baseVersion=base)
    before = workspace_state(alice, wid)
    response = bob.patch(
        f"/tasks/{task['id']}", json={**fill(second), "priority": "urgent", "baseVersion": base}
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "CONFLICT"
    assert error["current"] == current
    # Nothing of the refused write is applied, not even its non-clashing part.
    assert workspace_state(alice, wid) == before


def test_resending_with_the_current_version_after_a_conflict_succeeds(api: Api) -> None:
    alice, bob, _wid, task = two_editors(api)
    patch(alice, task["id"], title="Alice's", baseVersion=task["version"])
    conflict = bob.patch(f"/tasks/{task['id']}", json={"title": "Bob's", "baseVersion": task["version"]})
    current = conflict.json()["error"]["current"]
    resolved = patch(bob, task["id"], title="Bob's", baseVersion=current["version"])
    assert resolved["title"] == "Bob's"
    assert resolved["version"] == current["version"] + 1


def test_setting_a_field_to_the_value_someone_else_already_gave_it_is_no_conflict(api: Api) -> None:
    alice, bob, wid, task = two_editors(api)
    current = patch(alice, task["id"], title="Agreed", baseVersion=task["version"])
    same = patch(bob, task["id"], title="Agreed", baseVersion=task["version"])
    assert same == current
    assert len(events_of(alice, wid)) == 3  # member added, created, one update


def test_without_base_version_the_last_write_wins(api: Api) -> None:
    alice, bob, _wid, task = two_editors(api)
    patch(alice, task["id"], title="Alice's")
    last = patch(bob, task["id"], title="Bob's")
    assert last["title"] == "Bob's"
    assert last["version"] == task["version"] + 2


def test_an_edit_made_after_a_move_from_the_same_base_merges(api: Api) -> None:
    alice, bob, _wid, task = two_editors(api)
    moved = alice.post(
        f"/tasks/{task['id']}/move", json={"status": "in_progress", "baseVersion": task["version"]}
    )
    assert moved.status_code == 200
    edited = patch(bob, task["id"], title="Renamed", baseVersion=task["version"])
    assert (edited["status"], edited["title"]) == ("in_progress", "Renamed")


def test_a_move_made_after_an_edit_from_the_same_base_merges(api: Api) -> None:
    alice, bob, _wid, task = two_editors(api)
    patch(alice, task["id"], title="Renamed", baseVersion=task["version"])
    moved = bob.post(f"/tasks/{task['id']}/move", json={"status": "done", "baseVersion": task["version"]})
    assert moved.status_code == 200
    assert (moved.json()["status"], moved.json()["title"]) == ("done", "Renamed")


@pytest.mark.parametrize("second_status", ["todo", "done"])
def test_a_move_with_a_stale_base_version_after_someone_else_moved_answers_409(
    api: Api, second_status: str
) -> None:
    alice, bob, wid, task = two_editors(api)
    alice.create_task(wid, "Neighbour")
    first = alice.post(
        f"/tasks/{task['id']}/move", json={"status": "in_progress", "baseVersion": task["version"]}
    )
    assert first.status_code == 200
    before = workspace_state(alice, wid)
    response = bob.post(
        f"/tasks/{task['id']}/move", json={"status": second_status, "baseVersion": task["version"]}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert response.json()["error"]["current"] == first.json()
    assert workspace_state(alice, wid) == before


def test_a_move_without_base_version_after_someone_else_moved_wins(api: Api) -> None:
    alice, bob, _wid, task = two_editors(api)
    alice.post(f"/tasks/{task['id']}/move", json={"status": "in_progress"})
    response = bob.post(f"/tasks/{task['id']}/move", json={"status": "done"})
    assert response.status_code == 200
    assert response.json()["status"] == "done"
