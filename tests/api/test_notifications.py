"""Notifications (PROTOCOL §7): made for a mention, an assignment and a comment on an assigned
task, never for the actor; read newest first with the unread count, marked read by their owner
only; a member removed sees none of that workspace's. On both backends (the shared `node`
fixture), and the `NOTIFICATION` frame on the user's open connection."""

from __future__ import annotations

from typing import Any

from tests.realtime.clients import joined
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer


def inbox(user: ApiUser, **params: Any) -> dict[str, Any]:
    response = user.get("/notifications", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def kinds(user: ApiUser) -> list[str]:
    return [n["kind"] for n in inbox(user)["items"]]


def mention(user: ApiUser) -> str:
    return f"@{{{user.id}}}"


def board(api: Api) -> tuple[ApiUser, ApiUser, ApiUser, str]:
    owner, ada, bo = api.register("Owner"), api.register("Ada"), api.register("Bo")
    wid = owner.create_workspace()["id"]
    owner.add_member(wid, ada)
    owner.add_member(wid, bo)
    return owner, ada, bo, wid


def test_a_mention_notifies_the_member_and_never_the_actor(api: Api) -> None:
    owner, ada, bo, wid = board(api)
    task = owner.create_task(wid, "Plan")
    outsider = api.register("Outsider")
    body = f"{mention(ada)} {mention(owner)} {mention(outsider)}"
    assert owner.post(f"/tasks/{task['id']}/comments", json={"body": body}).status_code == 201

    page = inbox(ada)
    assert page["unreadCount"] == 1
    [note] = page["items"]
    assert set(note) == {"id", "kind", "workspaceId", "taskId", "actorId", "createdAt", "readAt"}
    assert note["kind"] == "mention" and note["workspaceId"] == wid and note["taskId"] == task["id"]
    assert note["actorId"] == owner.id and note["readAt"] is None
    assert inbox(owner) == {"items": [], "unreadCount": 0}  # mentioned themselves: nothing
    assert inbox(outsider) == {"items": [], "unreadCount": 0}
    assert inbox(bo) == {"items": [], "unreadCount": 0}


def test_assigning_notifies_the_assignee_on_create_and_on_a_change(api: Api) -> None:
    owner, ada, bo, wid = board(api)
    task = owner.create_task(wid, "Plan", assigneeId=ada.id)
    assert kinds(ada) == ["assigned"]
    assert owner.patch(f"/tasks/{task['id']}", json={"title": "Plan v2"}).status_code == 200
    assert kinds(ada) == ["assigned"]  # not re-assigned: nothing new
    assert owner.patch(f"/tasks/{task['id']}", json={"assigneeId": bo.id}).status_code == 200
    assert kinds(bo) == ["assigned"] and inbox(bo)["items"][0]["taskId"] == task["id"]
    # Taking a task oneself: no notification.
    assert bo.patch(f"/tasks/{task['id']}", json={"assigneeId": bo.id}).status_code == 200
    own = bo.create_task(wid, "Mine", assigneeId=bo.id)
    assert own["assigneeId"] == bo.id
    assert kinds(bo) == ["assigned"]
    assert kinds(owner) == []


def test_a_comment_notifies_the_assignee_once_even_when_it_mentions_them(api: Api) -> None:
    owner, ada, bo, wid = board(api)
    task = owner.create_task(wid, "Plan", assigneeId=ada.id)
    assert bo.post(f"/tasks/{task['id']}/comments", json={"body": "Looks fine"}).status_code == 201
    assert kinds(ada) == ["comment", "assigned"]  # newest first
    assert bo.post(f"/tasks/{task['id']}/comments", json={"body": f"{mention(ada)} see"}).status_code == 201
    assert kinds(ada) == ["mention", "comment", "assigned"]
    # The assignee commenting on their own task is not told about it.
    assert ada.post(f"/tasks/{task['id']}/comments", json={"body": "On it"}).status_code == 201
    assert inbox(ada)["unreadCount"] == 3
    assert kinds(bo) == []


def test_an_edit_notifies_only_the_members_it_mentions_for_the_first_time(api: Api) -> None:
    owner, ada, bo, wid = board(api)
    task = owner.create_task(wid, "Plan")
    added = owner.post(f"/tasks/{task['id']}/comments", json={"body": mention(ada)}).json()
    edited = owner.patch(f"/comments/{added['id']}", json={"body": f"{mention(ada)} {mention(bo)}"})
    assert edited.status_code == 200
    assert kinds(ada) == ["mention"] and kinds(bo) == ["mention"]


def test_unread_only_limit_and_marking_read(api: Api) -> None:
    owner, ada, _bo, wid = board(api)
    tasks = [owner.create_task(wid, f"T{i}", assigneeId=ada.id) for i in range(4)]
    page = inbox(ada)
    assert page["unreadCount"] == 4
    assert [n["taskId"] for n in page["items"]] == [t["id"] for t in reversed(tasks)]
    assert len(inbox(ada, limit=2)["items"]) == 2 and inbox(ada, limit=2)["unreadCount"] == 4

    newest, second = page["items"][0]["id"], page["items"][1]["id"]
    assert ada.post("/notifications/read", json={"ids": [newest, second]}).status_code == 204
    after = inbox(ada)
    assert after["unreadCount"] == 2
    read = {n["id"]: n["readAt"] for n in after["items"]}
    assert read[newest] is not None and read[second] is not None
    unread = inbox(ada, unread="true")
    assert [n["taskId"] for n in unread["items"]] == [tasks[1]["id"], tasks[0]["id"]]
    assert unread["unreadCount"] == 2

    assert ada.post("/notifications/read", json={"all": True}).status_code == 204
    assert inbox(ada, unread="true") == {"items": [], "unreadCount": 0}
    assert len(inbox(ada)["items"]) == 4


def test_a_bad_read_request_is_422_and_marks_nothing(api: Api) -> None:
    owner, ada, _bo, wid = board(api)
    owner.create_task(wid, "T", assigneeId=ada.id)
    note = inbox(ada)["items"][0]["id"]
    bad: list[Any] = [
        {},
        {"all": False},
        {"ids": []},
        {"ids": [note], "all": True},
        {"ids": ["\x00"]},
        {"x": 1},
    ]
    for body in bad:
        response = ada.post("/notifications/read", json=body)
        assert response.status_code == 422, (body, response.text)
    assert ada.get("/notifications", params={"limit": 0}).status_code == 422
    assert inbox(ada)["unreadCount"] == 1


def test_another_user_cannot_mark_yours_read(api: Api) -> None:
    owner, ada, bo, wid = board(api)
    owner.create_task(wid, "T", assigneeId=ada.id)
    note = inbox(ada)["items"][0]["id"]
    assert bo.post("/notifications/read", json={"ids": [note]}).status_code == 204
    assert bo.post("/notifications/read", json={"all": True}).status_code == 204
    assert inbox(ada)["unreadCount"] == 1 and inbox(ada)["items"][0]["readAt"] is None


def test_a_removed_member_sees_none_of_that_workspace_and_gets_no_new_ones(api: Api) -> None:
    owner, ada, bo, wid = board(api)
    other = owner.create_workspace("Other")["id"]
    owner.add_member(other, ada)
    task = owner.create_task(wid, "Plan", assigneeId=ada.id)
    owner.create_task(other, "Elsewhere", assigneeId=ada.id)
    assert inbox(ada)["unreadCount"] == 2

    assert owner.delete(f"/workspaces/{wid}/members/{ada.id}").status_code == 204
    page = inbox(ada)
    assert page["unreadCount"] == 1 and [n["workspaceId"] for n in page["items"]] == [other]
    # Still the assignee of the task (a removal leaves it), but no longer told of comments on it.
    assert bo.post(f"/tasks/{task['id']}/comments", json={"body": f"{mention(ada)} hi"}).status_code == 201
    assert inbox(ada)["unreadCount"] == 1
    # Added back: the old ones show again; nothing was made while away.
    owner.add_member(wid, ada)
    assert inbox(ada)["unreadCount"] == 2


def test_a_new_notification_reaches_the_users_open_connection(node: RunningServer, api: Api) -> None:
    owner, ada, _bo, wid = board(api)
    task = owner.create_task(wid, "Plan")
    with joined(node, ada, expect=1) as ws:
        assert owner.post(f"/tasks/{task['id']}/comments", json={"body": mention(ada)}).status_code == 201
        frame = ws.recv_type("NOTIFICATION")
    assert "seq" not in frame
    data = frame["data"]
    assert data["unreadCount"] == 1
    assert data["notification"] == inbox(ada)["items"][0]
    assert data["notification"]["kind"] == "mention"


def test_a_replayed_comment_makes_no_second_notification(api: Api) -> None:
    owner, ada, _bo, wid = board(api)
    task = owner.create_task(wid, "Plan")
    headers = {"Idempotency-Key": "comment-once"}
    first = owner.post(f"/tasks/{task['id']}/comments", json={"body": mention(ada)}, headers=headers)
    again = owner.post(f"/tasks/{task['id']}/comments", json={"body": mention(ada)}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert inbox(ada)["unreadCount"] == 1
    assert len(owner.get(f"/tasks/{task['id']}/comments").json()["items"]) == 1
