"""A task's activity (PROTOCOL §7): its events from the workspace log, newest first, each with
the fields it changed as `{field: {from, to}}`. On both backends (the shared `node` fixture)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from taskroom.db.models import Event
from taskroom.timeutil import utcnow
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer


def activity(user: ApiUser, task_id: str, **params: Any) -> dict[str, Any]:
    response = user.get(f"/tasks/{task_id}/activity", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_each_kind_of_event_says_what_it_changed_from_and_to(api: Api) -> None:
    owner = api.register("Owner")
    member = api.register("Member")
    wid = owner.create_workspace()["id"]
    owner.add_member(wid, member)
    task = owner.create_task(wid, "Plan", priority="high")
    other = owner.create_task(wid, "Elsewhere")  # its events are not this task's activity
    assert (
        member.patch(f"/tasks/{task['id']}", json={"title": "Plan v2", "priority": "low"}).status_code == 200
    )
    assert owner.patch(f"/tasks/{other['id']}", json={"title": "Not listed"}).status_code == 200
    moved = owner.post(f"/tasks/{task['id']}/move", json={"status": "in_progress"}).json()
    done = owner.post(f"/tasks/{task['id']}/complete", json={"completed": True}).json()
    assert member.delete(f"/tasks/{task['id']}").status_code == 204
    restored = owner.post(f"/tasks/{task['id']}/restore").json()

    page = activity(owner, task["id"])
    assert page["hasMore"] is False
    items = page["items"]
    assert [i["type"] for i in items] == [
        "TASK_RESTORED",
        "TASK_DELETED",
        "TASK_COMPLETED",
        "TASK_MOVED",
        "TASK_UPDATED",
        "TASK_CREATED",
    ]
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(seqs, reverse=True)
    assert [i["actorId"] for i in items] == [owner.id, member.id, owner.id, owner.id, member.id, owner.id]
    assert all(i["timestamp"].endswith("Z") for i in items)
    changes = [i["changes"] for i in items]

    created = changes[5]
    assert created["title"] == {"from": None, "to": "Plan"}
    assert created["priority"] == {"from": None, "to": "high"}
    assert created["status"] == {"from": None, "to": "todo"}
    assert "version" not in created and "description" not in created  # null stays unlisted
    assert changes[4] == {
        "title": {"from": "Plan", "to": "Plan v2"},
        "priority": {"from": "high", "to": "low"},
    }
    # Into an empty column: its key may stay the same, and then it is not listed.
    expected_move = {"status": {"from": "todo", "to": "in_progress"}}
    if moved["position"] != task["position"]:
        expected_move["position"] = {"from": task["position"], "to": moved["position"]}
    assert changes[3] == expected_move
    assert changes[2]["completed"] == {"from": False, "to": True}
    assert changes[2]["status"] == {"from": "in_progress", "to": "done"}
    assert changes[2]["completedAt"] == {"from": None, "to": done["completedAt"]}
    assert changes[1] == {}
    # Restored to its own place: nothing of the task changed.
    assert changes[0] == {}
    assert restored["position"] == done["position"]


def test_pages_go_back_with_before_and_keep_from_values_across_pages(api: Api) -> None:
    owner = api.register("Owner")
    wid = owner.create_workspace()["id"]
    task = owner.create_task(wid, "v0")
    for n in range(1, 6):
        assert owner.patch(f"/tasks/{task['id']}", json={"title": f"v{n}"}).status_code == 200

    whole = activity(owner, task["id"])["items"]
    assert len(whole) == 6
    seen: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        page = activity(owner, task["id"], limit=2, **({"before": before} if before else {}))
        assert len(page["items"]) <= 2
        seen.extend(page["items"])
        if not page["hasMore"]:
            break
        before = page["items"][-1]["seq"]
    assert seen == whole
    # The last entry of a page still knows its `from`, read from the page after it.
    first_page = activity(owner, task["id"], limit=2)["items"]
    assert first_page[-1]["changes"] == {"title": {"from": "v3", "to": "v4"}}
    assert activity(owner, task["id"], before=whole[-1]["seq"]) == {"items": [], "hasMore": False}


def test_non_members_get_404_viewers_read_and_bad_paging_is_422(api: Api) -> None:
    owner = api.register("Owner")
    viewer, stranger = api.register("Viewer"), api.register("Stranger")
    wid = owner.create_workspace()["id"]
    owner.add_member(wid, viewer, "viewer")
    task = owner.create_task(wid, "Private")
    assert [i["type"] for i in activity(viewer, task["id"])["items"]] == ["TASK_CREATED"]
    hidden = stranger.get(f"/tasks/{task['id']}/activity")
    assert hidden.status_code == 404
    assert "Private" not in hidden.text
    assert owner.get("/tasks/no-such-task/activity").status_code == 404
    for params in ({"before": 0}, {"limit": 0}, {"limit": 201}, {"before": "x"}):
        assert owner.get(f"/tasks/{task['id']}/activity", params=params).status_code == 422


def test_events_pruned_by_retention_are_not_listed(node: RunningServer, api: Api) -> None:
    owner = api.register("Owner")
    wid = owner.create_workspace()["id"]
    task = owner.create_task(wid, "Old")
    assert owner.patch(f"/tasks/{task['id']}", json={"title": "New"}).status_code == 200
    moved = owner.post(f"/tasks/{task['id']}/move", json={"status": "done"}).json()
    created_seq = activity(owner, task["id"])["items"][-1]["seq"]
    # The creation and the rename older than WS_EVENT_RETENTION (7 days by default), then pruned.
    backdate(node, wid, created_seq + 1, timedelta(days=8))
    node.run_on_loop(node.app_state.services.prune())

    items = activity(owner, task["id"])["items"]
    assert [i["type"] for i in items] == ["TASK_MOVED"]
    # What it changed from was pruned: the move still names where it came from.
    assert items[0]["changes"]["status"] == {"from": "todo", "to": "done"}
    assert items[0]["changes"].get("position", {"to": moved["position"]})["to"] == moved["position"]
    assert "title" not in items[0]["changes"]


def backdate(node: RunningServer, workspace_id: str, upto_seq: int, age: timedelta) -> None:
    async def change() -> None:
        async with node.app_state.services.db.transaction() as session:
            await session.execute(
                update(Event)
                .where(Event.workspace_id == workspace_id, Event.seq <= upto_seq)
                .values(created_at=utcnow() - age)
            )

    node.call(change)
