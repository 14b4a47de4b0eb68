"""The trash (PROTOCOL §7): DELETE moves a task there, where it answers 404 to everything but
restore; `/restore` brings it back where it was, with its shared description; the node's pruning
empties the trash after TRASH_RETENTION_DAYS. On both backends (the shared `node` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from taskroom.db.models import Task, TaskDocument
from taskroom.timeutil import utcnow
from tests.documents.test_descriptions import refusal
from tests.realtime.clients import eventually, joined
from tests.realtime.test_sync_resume import prune_everything, sync
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer
from tests.support.ydoc import YDocClient, doc_url


def board(api: Api) -> tuple[ApiUser, str]:
    owner = api.register("Owner")
    return owner, owner.create_workspace()["id"]


def titles(user: ApiUser, workspace_id: str, **params: Any) -> list[str]:
    response = user.get(f"/workspaces/{workspace_id}/tasks", params=params)
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()["items"]]


def trash(user: ApiUser, workspace_id: str, **params: Any) -> dict[str, Any]:
    response = user.get(f"/workspaces/{workspace_id}/trash", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def events(user: ApiUser, workspace_id: str) -> list[dict[str, Any]]:
    response = user.get(f"/workspaces/{workspace_id}/events", params={"since": 0})
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def set_row(node: RunningServer, task_id: str, **values: Any) -> None:
    """Change a task's row straight in the database (what the API cannot: an old deletion, a key)."""

    async def change() -> None:
        async with node.app_state.services.db.transaction() as session:
            await session.execute(update(Task).where(Task.id == task_id).values(**values))

    node.call(change)


def count_rows(node: RunningServer, model: Any, task_id: str) -> int:
    async def count() -> int:
        async with node.app_state.services.db.read() as session:
            column = model.id if model is Task else model.task_id
            return int(await session.scalar(select(func.count()).where(column == task_id)) or 0)

    return node.call(count)


def test_a_trashed_task_answers_404_to_everything_but_restore_and_leaves_every_list(
    node: RunningServer, api: Api
) -> None:
    owner, wid = board(api)
    first = owner.create_task(wid, "First")
    gone = owner.create_task(wid, "Gone", description="Kept for later")
    owner.create_task(wid, "Third")
    assert owner.delete(f"/tasks/{gone['id']}").status_code == 204

    task = f"/tasks/{gone['id']}"
    for response in (
        owner.get(task),
        owner.patch(task, json={"title": "x"}),
        owner.post(f"{task}/move", json={"status": "done"}),
        owner.post(f"{task}/complete", json={"completed": True}),
        owner.get(f"{task}/activity"),
        owner.delete(task),
    ):
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"
    # Not a neighbour either: it is on no board.
    beside = owner.post(f"/tasks/{first['id']}/move", json={"status": "todo", "afterId": gone["id"]})
    assert beside.status_code == 422
    assert titles(owner, wid) == ["First", "Third"]
    assert titles(owner, wid, status="todo") == ["First", "Third"]
    snapshot = owner.get(f"/workspaces/{wid}/snapshot").json()
    assert [t["title"] for t in snapshot["tasks"]] == ["First", "Third"]
    # Its shared description cannot be opened while it is in the trash.
    assert refusal(doc_url(node.ws_url, gone["id"], owner.token)) == 404
    # The event is the one of protocol v1.
    last = events(owner, wid)[-1]
    assert last["type"] == "TASK_DELETED"
    assert last["data"] == {"workspaceId": wid, "taskId": gone["id"], "actorId": owner.id}


def test_a_column_whose_only_tasks_are_trashed_holds_none(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid, "Alone", status="in_progress")
    assert owner.delete(f"/tasks/{task['id']}").status_code == 204
    columns = owner.get(f"/workspaces/{wid}").json()["columns"]
    kept = [c for c in columns if c["key"] != "in_progress"]
    assert owner.patch(f"/workspaces/{wid}", json={"columns": kept}).status_code == 200
    # Restored, it lands at the end of the first open column (its own is gone).
    restored = owner.post(f"/tasks/{task['id']}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["status"] == "todo"
    assert restored.json()["completed"] is False


def test_a_task_restored_into_a_column_that_became_done_is_completed(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid, "Review", status="in_progress")
    assert owner.delete(f"/tasks/{task['id']}").status_code == 204
    columns = owner.get(f"/workspaces/{wid}").json()["columns"]
    flipped = [{**c, "done": True} if c["key"] == "in_progress" else c for c in columns]
    assert owner.patch(f"/workspaces/{wid}", json={"columns": flipped}).status_code == 200
    restored = owner.post(f"/tasks/{task['id']}/restore").json()
    assert (restored["status"], restored["completed"]) == ("in_progress", True)
    assert restored["completedAt"] is not None


def test_the_trash_lists_deleted_tasks_latest_first_a_page_at_a_time(api: Api) -> None:
    owner, wid = board(api)
    member = api.register("Member")
    owner.add_member(wid, member)
    made = [owner.create_task(wid, f"T{n}") for n in range(5)]
    for task in made[:4]:
        deleter = member if task["title"] == "T2" else owner
        assert deleter.delete(f"/tasks/{task['id']}").status_code == 204

    whole = trash(owner, wid)
    assert [t["title"] for t in whole["items"]] == ["T3", "T2", "T1", "T0"]
    assert whole["nextCursor"] is None
    item = whole["items"][1]
    assert item["deletedBy"] == member.id
    assert item["deletedAt"].endswith("Z")
    assert {k: v for k, v in item.items() if k not in ("deletedAt", "deletedBy")} == made[2]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = trash(owner, wid, limit=3, **({"cursor": cursor} if cursor else {}))
        seen.extend(t["title"] for t in page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ["T3", "T2", "T1", "T0"]
    assert owner.get(f"/workspaces/{wid}/trash", params={"cursor": "nonsense"}).status_code == 422
    assert owner.get(f"/workspaces/{wid}/trash", params={"limit": 501}).status_code == 422


def test_restore_puts_the_task_back_at_its_place_and_logs_task_restored(api: Api) -> None:
    owner, wid = board(api)
    member = api.register("Member")
    owner.add_member(wid, member)
    owner.create_task(wid, "A")
    middle = owner.create_task(wid, "B", description="Notes")
    owner.create_task(wid, "C")
    assert owner.delete(f"/tasks/{middle['id']}").status_code == 204
    owner.create_task(wid, "D")

    restored = member.post(f"/tasks/{middle['id']}/restore")
    assert restored.status_code == 200, restored.text
    task = restored.json()
    assert task["status"] == "todo"
    assert task["position"] == middle["position"]
    assert task["description"] == "Notes"
    assert task["version"] == middle["version"] + 1
    assert titles(owner, wid) == ["A", "B", "C", "D"]
    assert owner.get(f"/tasks/{middle['id']}").json() == task
    assert trash(owner, wid)["items"] == []

    log = events(owner, wid)
    assert log[-1]["type"] == "TASK_RESTORED"
    assert log[-1]["data"] == {"workspaceId": wid, "task": task, "actorId": member.id}
    assert log[-1]["seq"] == log[-2]["seq"] + 1
    # On the board again: it can be changed, and trashed again.
    assert owner.patch(f"/tasks/{middle['id']}", json={"title": "B2"}).status_code == 200
    assert owner.delete(f"/tasks/{middle['id']}").status_code == 204


def test_a_restored_task_whose_key_was_taken_goes_to_the_end_of_its_column(
    node: RunningServer, api: Api
) -> None:
    owner, wid = board(api)
    owner.create_task(wid, "A")
    binned = owner.create_task(wid, "B")
    owner.create_task(wid, "C")
    assert owner.delete(f"/tasks/{binned['id']}").status_code == 204
    squatter = owner.create_task(wid, "Squatter")
    set_row(node, squatter["id"], position=binned["position"])  # the key is taken now

    restored = owner.post(f"/tasks/{binned['id']}/restore").json()
    assert restored["position"] != binned["position"]
    listed = owner.get(f"/workspaces/{wid}/tasks").json()["items"]
    assert [t["title"] for t in listed][-1] == "B"
    assert len({t["position"] for t in listed}) == len(listed)


def test_restoring_what_is_not_in_the_trash_answers_404(api: Api) -> None:
    owner, wid = board(api)
    live = owner.create_task(wid, "Live")
    binned = owner.create_task(wid, "Binned")
    assert owner.post(f"/tasks/{live['id']}/restore").status_code == 404
    assert owner.post("/tasks/no-such-task/restore").status_code == 404
    assert owner.delete(f"/tasks/{binned['id']}").status_code == 204
    assert owner.post(f"/tasks/{binned['id']}/restore").status_code == 200
    again = owner.post(f"/tasks/{binned['id']}/restore")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "NOT_FOUND"
    assert [e["type"] for e in events(owner, wid)].count("TASK_RESTORED") == 1


def test_only_members_see_the_trash_and_only_members_and_up_restore(api: Api) -> None:
    owner, wid = board(api)
    viewer, stranger = api.register("Viewer"), api.register("Stranger")
    owner.add_member(wid, viewer, "viewer")
    elsewhere = stranger.create_workspace("Own")["id"]
    task = owner.create_task(wid, "Secret title")
    assert owner.delete(f"/tasks/{task['id']}").status_code == 204

    assert [t["id"] for t in trash(viewer, wid)["items"]] == [task["id"]]
    assert viewer.post(f"/tasks/{task['id']}/restore").status_code == 403
    assert stranger.get(f"/workspaces/{wid}/trash").status_code == 404
    hidden = stranger.post(f"/tasks/{task['id']}/restore")
    assert hidden.status_code == 404
    assert "Secret" not in hidden.text
    assert trash(stranger, elsewhere)["items"] == []
    assert [t["id"] for t in trash(owner, wid)["items"]] == [task["id"]]


def test_a_second_delete_is_404_and_a_replayed_one_is_the_first_answer(api: Api) -> None:
    owner, wid = board(api)
    task = owner.create_task(wid)
    headers = {"Idempotency-Key": "trash-once"}
    assert owner.delete(f"/tasks/{task['id']}", headers=headers).status_code == 204
    assert owner.delete(f"/tasks/{task['id']}", headers=headers).status_code == 204
    assert owner.delete(f"/tasks/{task['id']}").status_code == 404
    assert [e["type"] for e in events(owner, wid)] == ["TASK_CREATED", "TASK_DELETED"]
    assert len(trash(owner, wid)["items"]) == 1


def test_the_trash_is_emptied_after_the_retention_with_the_documents(node: RunningServer, api: Api) -> None:
    owner, wid = board(api)
    old, recent = owner.create_task(wid, "Old"), owner.create_task(wid, "Recent")

    async def open_document() -> None:
        async with YDocClient(doc_url(node.ws_url, old["id"], owner.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)

    asyncio.run(open_document())
    eventually(lambda: count_rows(node, TaskDocument, old["id"]) == 1, timeout=10)
    for task in (old, recent):
        assert owner.delete(f"/tasks/{task['id']}").status_code == 204
    # Deleted longer ago than TRASH_RETENTION_DAYS (30 by default).
    set_row(node, old["id"], deleted_at=utcnow() - timedelta(days=31))

    node.run_on_loop(node.app_state.services.prune())

    assert [t["title"] for t in trash(owner, wid)["items"]] == ["Recent"]
    assert owner.post(f"/tasks/{old['id']}/restore").status_code == 404
    assert count_rows(node, Task, old["id"]) == 0
    assert count_rows(node, TaskDocument, old["id"]) == 0
    assert owner.post(f"/tasks/{recent['id']}/restore").status_code == 200


def test_the_shared_description_comes_back_with_its_task(node: RunningServer, api: Api) -> None:
    owner, _wid = board(api)
    task = owner.create_task(_wid, "Spec", description="Draft")
    url = doc_url(node.ws_url, task["id"], owner.token)

    async def edit() -> None:
        async with YDocClient(url) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            client.insert(5, " two")
            await client.wait_for(lambda: client.value() == "Draft two")

    asyncio.run(edit())
    eventually(lambda: owner.get(f"/tasks/{task['id']}").json()["description"] == "Draft two", timeout=10)
    assert owner.delete(f"/tasks/{task['id']}").status_code == 204
    assert count_rows(node, TaskDocument, task["id"]) == 1  # kept in the trash
    assert owner.post(f"/tasks/{task['id']}/restore").json()["description"] == "Draft two"

    async def read() -> str:
        async with YDocClient(url) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            return client.value()

    assert asyncio.run(read()) == "Draft two"


def test_the_websocket_reset_snapshot_leaves_trashed_tasks_out(
    node_factory: Callable[..., RunningServer],
) -> None:
    private = node_factory(ws_event_retention=1)  # every event is past retention once written
    api = Api(private.api)
    try:
        owner = api.register("Owner")
        wid = owner.create_workspace()["id"]
        owner.create_task(wid, "Kept")
        gone = owner.create_task(wid, "Gone")
        assert owner.delete(f"/tasks/{gone['id']}").status_code == 204
        prune_everything(private, owner, wid)
        with joined(private, owner, expect=1) as ws:
            reply = sync(ws, wid, 0, id="old")
            assert reply["reset"] is True
            assert [t["title"] for t in reply["snapshot"]["tasks"]] == ["Kept"]
        # The trash itself is not pruned with the log.
        assert [t["title"] for t in trash(owner, wid)["items"]] == ["Gone"]
    finally:
        api.close()
