"""Comments on a task (PROTOCOL §7): add, list, edit and delete by role, their events in the
workspace log with a seq, the task's activity, mentions, and the trash. On both backends (the
shared `node` fixture)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from taskroom.db.models import Comment, Notification, Task
from taskroom.timeutil import utcnow
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer


def events(user: ApiUser, workspace_id: str) -> list[dict[str, Any]]:
    response = user.get(f"/workspaces/{workspace_id}/events", params={"since": 0})
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def comments(user: ApiUser, task_id: str, **params: Any) -> dict[str, Any]:
    response = user.get(f"/tasks/{task_id}/comments", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def comment(user: ApiUser, task_id: str, body: str) -> dict[str, Any]:
    response = user.post(f"/tasks/{task_id}/comments", json={"body": body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def team(api: Api) -> tuple[dict[str, ApiUser], str, dict[str, Any]]:
    """A workspace with one person of each role and one task."""
    people = {role: api.register(role.title()) for role in ("owner", "admin", "member", "viewer", "outsider")}
    wid = people["owner"].create_workspace()["id"]
    for role in ("admin", "member", "viewer"):
        people["owner"].add_member(wid, people[role], role)
    return people, wid, people["owner"].create_task(wid, "Plan")


def test_members_comment_and_everyone_in_the_workspace_reads_them_oldest_first(api: Api) -> None:
    people, _wid, task = team(api)
    first = comment(people["member"], task["id"], "First")
    assert set(first) == {"id", "taskId", "authorId", "body", "mentions", "createdAt", "editedAt"}
    assert first["taskId"] == task["id"] and first["authorId"] == people["member"].id
    assert first["body"] == "First" and first["mentions"] == [] and first["editedAt"] is None
    second = comment(people["admin"], task["id"], "Second")
    third = comment(people["owner"], task["id"], "Third")

    listed = comments(people["viewer"], task["id"])
    assert [c["id"] for c in listed["items"]] == [first["id"], second["id"], third["id"]]
    assert listed["nextCursor"] is None
    # Paged: the cursor goes on from where the page ended.
    page = comments(people["viewer"], task["id"], limit=2)
    assert [c["id"] for c in page["items"]] == [first["id"], second["id"]]
    rest = comments(people["viewer"], task["id"], limit=2, cursor=page["nextCursor"])
    assert [c["id"] for c in rest["items"]] == [third["id"]] and rest["nextCursor"] is None

    viewer = people["viewer"].post(f"/tasks/{task['id']}/comments", json={"body": "No"})
    assert viewer.status_code == 403
    for path in (f"/tasks/{task['id']}/comments",):
        assert people["outsider"].get(path).status_code == 404
        assert people["outsider"].post(path, json={"body": "No"}).status_code == 404
    assert people["outsider"].patch(f"/comments/{first['id']}", json={"body": "No"}).status_code == 404
    assert people["outsider"].delete(f"/comments/{first['id']}").status_code == 404
    assert len(comments(people["owner"], task["id"])["items"]) == 3


def test_the_author_or_an_admin_edits_and_deletes_others_get_403(api: Api) -> None:
    people, _wid, task = team(api)
    mine = comment(people["member"], task["id"], "Mine")
    other = api.register("Other member")
    people["owner"].add_member(_wid, other, "member")

    assert other.patch(f"/comments/{mine['id']}", json={"body": "Hijacked"}).status_code == 403
    assert other.delete(f"/comments/{mine['id']}").status_code == 403
    assert people["viewer"].patch(f"/comments/{mine['id']}", json={"body": "No"}).status_code == 403
    assert people["viewer"].delete(f"/comments/{mine['id']}").status_code == 403
    assert comments(people["owner"], task["id"])["items"] == [mine]

    edited = people["member"].patch(f"/comments/{mine['id']}", json={"body": "Mine, edited"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["body"] == "Mine, edited" and edited.json()["editedAt"] is not None
    assert edited.json()["createdAt"] == mine["createdAt"]
    by_admin = people["admin"].patch(f"/comments/{mine['id']}", json={"body": "Moderated"})
    assert by_admin.status_code == 200 and by_admin.json()["authorId"] == people["member"].id
    assert comments(people["viewer"], task["id"])["items"][0]["body"] == "Moderated"

    assert people["admin"].delete(f"/comments/{mine['id']}").status_code == 204
    assert comments(people["owner"], task["id"])["items"] == []
    assert people["member"].delete(f"/comments/{mine['id']}").status_code == 404
    own = comment(people["member"], task["id"], "Again")
    assert people["member"].delete(f"/comments/{own['id']}").status_code == 204


def test_a_bad_body_is_422_and_changes_nothing(api: Api) -> None:
    people, wid, task = team(api)
    kept = comment(people["member"], task["id"], "Kept")
    before = events(people["owner"], wid)
    bad_bodies: list[Any] = [
        {"body": ""},
        {"body": "x" * 10_001},
        {"body": "nul \x00 inside"},
        {"body": 5},
        {},
        {"body": "ok", "extra": 1},
    ]
    for bad in bad_bodies:
        added = people["member"].post(f"/tasks/{task['id']}/comments", json=bad)
        assert added.status_code == 422, (bad, added.text)
        assert added.json()["error"]["code"] == "VALIDATION_ERROR"
        edited = people["member"].patch(f"/comments/{kept['id']}", json=bad)
        assert edited.status_code == 422, (bad, edited.text)
    assert comment(people["member"], task["id"], "x" * 10_000)["body"] == "x" * 10_000
    assert people["member"].get(f"/tasks/{task['id']}/comments", params={"cursor": "nope"}).status_code == 422
    listed = comments(people["owner"], task["id"])["items"]
    assert listed[0] == kept and len(listed) == 2
    assert len(events(people["owner"], wid)) == len(before) + 1  # only the long comment's


def test_each_write_is_an_event_in_the_log_with_the_next_seq(api: Api) -> None:
    people, wid, task = team(api)
    added = comment(people["member"], task["id"], "Hello")
    edited = people["member"].patch(f"/comments/{added['id']}", json={"body": "Hello again"}).json()
    assert people["admin"].delete(f"/comments/{added['id']}").status_code == 204

    log = events(people["viewer"], wid)
    tail = log[-3:]
    assert [e["type"] for e in tail] == ["COMMENT_ADDED", "COMMENT_UPDATED", "COMMENT_DELETED"]
    seqs = [e["seq"] for e in log]
    assert seqs == list(range(1, len(log) + 1))
    assert tail[0]["data"] == {
        "workspaceId": wid,
        "taskId": task["id"],
        "comment": added,
        "actorId": people["member"].id,
    }
    assert tail[1]["data"]["comment"] == edited and tail[1]["data"]["actorId"] == people["member"].id
    assert tail[2]["data"] == {
        "workspaceId": wid,
        "taskId": task["id"],
        "commentId": added["id"],
        "actorId": people["admin"].id,
    }
    # The same body again is no change: no event.
    again = comment(people["member"], task["id"], "Same")
    assert people["member"].patch(f"/comments/{again['id']}", json={"body": "Same"}).status_code == 200
    assert events(people["viewer"], wid)[-1]["type"] == "COMMENT_ADDED"


def test_the_activity_lists_comments_among_the_task_events(api: Api) -> None:
    people, _wid, task = team(api)
    added = comment(people["member"], task["id"], "Looks good")
    people["member"].patch(f"/comments/{added['id']}", json={"body": "Looks great"})
    people["member"].delete(f"/comments/{added['id']}")
    response = people["viewer"].get(f"/tasks/{task['id']}/activity")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["type"] for i in items] == [
        "COMMENT_DELETED",
        "COMMENT_UPDATED",
        "COMMENT_ADDED",
        "TASK_CREATED",
    ]
    assert items[2]["changes"] == {"body": {"from": None, "to": "Looks good"}}
    assert items[1]["changes"] == {"body": {"from": None, "to": "Looks great"}}
    assert items[0]["changes"] == {} and items[0]["actorId"] == people["member"].id


def test_mentions_list_members_once_in_order_and_ignore_everyone_else(api: Api) -> None:
    people, _wid, task = team(api)
    body = (
        f"@{{{people['viewer'].id}}} and @{{{people['admin'].id}}}, again @{{{people['viewer'].id}}}; "
        f"not @{{{people['outsider'].id}}}, not @{{nobody}}, not @{people['member'].id} nor {{{people['owner'].id}}}"
    )
    added = comment(people["member"], task["id"], body)
    assert added["mentions"] == [people["viewer"].id, people["admin"].id]
    assert added["body"] == body  # kept as written
    edited = people["member"].patch(
        f"/comments/{added['id']}", json={"body": f"only @{{{people['owner'].id}}}"}
    )
    assert edited.json()["mentions"] == [people["owner"].id]


def test_a_trashed_tasks_comments_answer_404_come_back_with_it_and_go_with_the_emptied_trash(
    node: RunningServer, api: Api
) -> None:
    people, _wid, task = team(api)
    owner = people["owner"]
    kept = comment(people["member"], task["id"], f"@{{{people['admin'].id}}} kept")
    assert owner.delete(f"/tasks/{task['id']}").status_code == 204
    assert owner.get(f"/tasks/{task['id']}/comments").status_code == 404
    assert owner.post(f"/tasks/{task['id']}/comments", json={"body": "No"}).status_code == 404
    assert owner.patch(f"/comments/{kept['id']}", json={"body": "No"}).status_code == 404
    assert owner.delete(f"/comments/{kept['id']}").status_code == 404

    assert owner.post(f"/tasks/{task['id']}/restore").status_code == 200
    assert comments(owner, task["id"])["items"] == [kept]

    assert owner.delete(f"/tasks/{task['id']}").status_code == 204

    async def age_it() -> None:
        async with node.app_state.services.db.transaction() as session:
            await session.execute(
                update(Task).where(Task.id == task["id"]).values(deleted_at=utcnow() - timedelta(days=31))
            )

    node.call(age_it)
    node.run_on_loop(node.app_state.services.prune())

    async def left() -> tuple[int, int]:
        async with node.app_state.services.db.read() as session:
            remaining = await session.scalar(select(func.count()).where(Comment.task_id == task["id"]))
            notes = await session.scalar(select(func.count()).where(Notification.task_id == task["id"]))
            return int(remaining or 0), int(notes or 0)

    assert node.call(left) == (0, 0)
    assert owner.patch(f"/comments/{kept['id']}", json={"body": "No"}).status_code == 404


def test_deleting_the_workspace_takes_its_comments_and_notifications(node: RunningServer, api: Api) -> None:
    people, wid, task = team(api)
    comment(people["member"], task["id"], f"@{{{people['admin'].id}}} before the end")
    assert people["owner"].delete(f"/workspaces/{wid}").status_code == 204

    async def left() -> tuple[int, int]:
        async with node.app_state.services.db.read() as session:
            remaining = await session.scalar(select(func.count()).where(Comment.workspace_id == wid))
            notes = await session.scalar(select(func.count()).where(Notification.workspace_id == wid))
            return int(remaining or 0), int(notes or 0)

    assert node.call(left) == (0, 0)
    assert people["admin"].get("/notifications").json() == {"items": [], "unreadCount": 0}
