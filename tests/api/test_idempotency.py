"""Idempotency-Key (PROTOCOL §2): the same key from the same user returns the first answer again,
marked `Idempotent-Replayed: true`, and has no second effect; an offline client can replay safely."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, tasks_of, workspace_state


@dataclass
class Scene:
    owner: ApiUser
    member: ApiUser
    outsider: ApiUser
    workspace_id: str
    task: dict[str, Any]


def make_scene(api: Api) -> Scene:
    owner, member, outsider = api.register("Owner"), api.register("Member"), api.register("Outsider")
    wid = owner.create_workspace()["id"]
    owner.add_member(wid, member, "member")
    task = owner.create_task(wid, "Task")
    owner.create_task(wid, "Other")
    return Scene(owner, member, outsider, wid, task)


# name -> (method, path, body) of one write, as the owner sends it
WRITES: dict[str, Callable[[Scene], tuple[str, str, dict[str, Any] | None]]] = {
    "create workspace": lambda s: ("POST", "/workspaces", {"name": "Another"}),
    "edit workspace": lambda s: ("PATCH", f"/workspaces/{s.workspace_id}", {"name": "Renamed"}),
    "delete workspace": lambda s: ("DELETE", f"/workspaces/{s.workspace_id}", None),
    "add member": lambda s: (
        "POST",
        f"/workspaces/{s.workspace_id}/members",
        {"email": s.outsider.email, "role": "viewer"},
    ),
    "change role": lambda s: (
        "PATCH",
        f"/workspaces/{s.workspace_id}/members/{s.member.id}",
        {"role": "admin"},
    ),
    "remove member": lambda s: ("DELETE", f"/workspaces/{s.workspace_id}/members/{s.member.id}", None),
    "create task": lambda s: ("POST", f"/workspaces/{s.workspace_id}/tasks", {"title": "Once"}),
    "edit task": lambda s: ("PATCH", f"/tasks/{s.task['id']}", {"title": "Edited"}),
    "complete task": lambda s: ("POST", f"/tasks/{s.task['id']}/complete", {"completed": True}),
    # To the end of the column: a second run would really move it again (a new position, a new event).
    "move task": lambda s: ("POST", f"/tasks/{s.task['id']}/move", {"status": "todo"}),
    "delete task": lambda s: ("DELETE", f"/tasks/{s.task['id']}", None),
}


def send(user: ApiUser, method: str, path: str, body: dict[str, Any] | None, key: str) -> httpx.Response:
    kwargs: dict[str, Any] = {"headers": {"Idempotency-Key": key}}
    if body is not None:
        kwargs["json"] = body
    return user.request(method, path, **kwargs)


def world(owner: ApiUser, workspace_id: str) -> dict[str, Any]:
    """What the owner can see anywhere: their workspaces and, while it exists, this one in full."""
    seen: dict[str, Any] = {"workspaces": owner.get("/workspaces").json()["items"]}
    if owner.get(f"/workspaces/{workspace_id}").status_code == 200:
        seen["workspace"] = workspace_state(owner, workspace_id)
    return seen


@pytest.mark.parametrize("write", list(WRITES))
def test_a_replayed_write_returns_the_first_answer_and_has_no_second_effect(api: Api, write: str) -> None:
    scene = make_scene(api)
    method, path, body = WRITES[write](scene)
    key = str(uuid.uuid4())
    first = send(scene.owner, method, path, body, key)
    assert first.status_code in {200, 201, 204}, first.text
    assert "Idempotent-Replayed" not in first.headers
    after_first = world(scene.owner, scene.workspace_id)

    again = send(scene.owner, method, path, body, key)
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert world(scene.owner, scene.workspace_id) == after_first


def test_a_replayed_create_leaves_exactly_one_task_and_one_event(api: Api) -> None:
    scene = make_scene(api)
    path = f"/workspaces/{scene.workspace_id}/tasks"
    answers = [send(scene.owner, "POST", path, {"title": "Once"}, "offline-queue-1") for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert answers[1].json() == answers[2].json() == answers[0].json()
    assert [t["title"] for t in tasks_of(scene.owner, scene.workspace_id)].count("Once") == 1
    created = [e for e in events_of(scene.owner, scene.workspace_id) if e["type"] == "TASK_CREATED"]
    assert [e["data"]["task"]["title"] for e in created].count("Once") == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda m, p, b: (m, p, {**(b or {}), "title": "Different"}),
        lambda m, p, b: ("POST", f"{p}/complete", {"completed": True}),
        lambda m, p, b: ("DELETE", p, None),
    ],
    ids=["different-body", "different-path", "different-method"],
)
def test_the_same_key_on_a_different_request_answers_422_and_writes_nothing(
    api: Api, change: Callable[[str, str, dict[str, Any] | None], tuple[str, str, dict[str, Any] | None]]
) -> None:
    scene = make_scene(api)
    method, path, body = "PATCH", f"/tasks/{scene.task['id']}", {"title": "First"}
    assert send(scene.owner, method, path, body, "reused").status_code == 200
    before = workspace_state(scene.owner, scene.workspace_id)
    response = send(scene.owner, *change(method, path, body), "reused")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert workspace_state(scene.owner, scene.workspace_id) == before


def send_raw(user: ApiUser, method: str, path: str, body: bytes, key: str) -> httpx.Response:
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    return user.request(method, path, headers=headers, content=body)


@pytest.mark.parametrize(
    "again",
    [
        b'{"title":"Spelled once","priority":"high","description":"d"}',
        b'{"priority": "high", "description": "d", "title": "Spelled once"}',
        b'\n  {\n "description" : "d" ,\n "title" :"Spelled once", "priority":"high"}\n',
        b'{"title":"Spelled \\u006fnce","priority":"high","description":"d"}',
    ],
    ids=["same-bytes", "other-key-order", "other-spacing", "escaped-character"],
)
def test_bodies_are_compared_as_json_values_so_a_reserialized_replay_returns_the_first_answer(
    api: Api, again: bytes
) -> None:
    scene = make_scene(api)
    path = f"/workspaces/{scene.workspace_id}/tasks"
    first = send_raw(
        scene.owner, "POST", path, b'{"title":"Spelled once","priority":"high","description":"d"}', "queued"
    )
    assert first.status_code == 201, first.text
    replay = send_raw(scene.owner, "POST", path, again, "queued")
    assert replay.status_code == 201, replay.text
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert [t["title"] for t in tasks_of(scene.owner, scene.workspace_id)].count("Spelled once") == 1


@pytest.mark.parametrize(
    "again",
    [
        b'{"title":"Spelled once","priority":"low","description":"d"}',
        b'{"title":"Spelled once","priority":"high"}',
        b'{"title":"Spelled once","priority":"high","description":"d","dueDate":null}',
    ],
    ids=["other-value", "missing-key", "extra-key"],
)
def test_a_body_with_a_different_json_value_is_a_reused_key(api: Api, again: bytes) -> None:
    scene = make_scene(api)
    path = f"/workspaces/{scene.workspace_id}/tasks"
    first = send_raw(
        scene.owner, "POST", path, b'{"title":"Spelled once","priority":"high","description":"d"}', "queued"
    )
    assert first.status_code == 201, first.text
    before = workspace_state(scene.owner, scene.workspace_id)
    response = send_raw(scene.owner, "POST", path, again, "queued")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert workspace_state(scene.owner, scene.workspace_id) == before


# name -> (method, path, body) of one write a member may make, as that member sends it
MEMBER_WRITES: dict[str, Callable[[Scene], tuple[str, str, dict[str, Any] | None]]] = {
    "create task": lambda s: ("POST", f"/workspaces/{s.workspace_id}/tasks", {"title": "Mine"}),
    "edit task": lambda s: ("PATCH", f"/tasks/{s.task['id']}", {"title": "Edited"}),
    "complete task": lambda s: ("POST", f"/tasks/{s.task['id']}/complete", {"completed": True}),
    "move task": lambda s: ("POST", f"/tasks/{s.task['id']}/move", {"status": "done"}),
    "delete task": lambda s: ("DELETE", f"/tasks/{s.task['id']}", None),
}


@pytest.mark.parametrize("write", list(MEMBER_WRITES))
def test_a_replay_after_removal_from_the_workspace_answers_404_not_the_stored_answer(
    api: Api, write: str
) -> None:
    scene = make_scene(api)
    method, path, body = MEMBER_WRITES[write](scene)
    first = send(scene.member, method, path, body, "before-removal")
    assert first.status_code in {200, 201, 204}, first.text
    removed = scene.owner.delete(f"/workspaces/{scene.workspace_id}/members/{scene.member.id}")
    assert removed.status_code == 204
    replay = send(scene.member, method, path, body, "before-removal")
    assert replay.status_code == 404, replay.text
    assert replay.json()["error"]["code"] == "NOT_FOUND"
    assert "Idempotent-Replayed" not in replay.headers
    assert scene.owner.get(f"/workspaces/{scene.workspace_id}").status_code == 200


@pytest.mark.parametrize("write", list(MEMBER_WRITES))
def test_a_replay_after_demotion_to_viewer_answers_403_not_the_stored_answer(api: Api, write: str) -> None:
    scene = make_scene(api)
    method, path, body = MEMBER_WRITES[write](scene)
    first = send(scene.member, method, path, body, "before-demotion")
    assert first.status_code in {200, 201, 204}, first.text
    demoted = scene.owner.patch(
        f"/workspaces/{scene.workspace_id}/members/{scene.member.id}", json={"role": "viewer"}
    )
    assert demoted.status_code == 200
    replay = send(scene.member, method, path, body, "before-demotion")
    assert replay.status_code == 403, replay.text
    assert replay.json()["error"]["code"] == "FORBIDDEN"
    assert "Idempotent-Replayed" not in replay.headers


def test_an_admin_write_replayed_after_demotion_answers_403(api: Api) -> None:
    scene = make_scene(api)
    admin = api.register("Admin")
    scene.owner.add_member(scene.workspace_id, admin, "admin")
    path = f"/workspaces/{scene.workspace_id}/members"
    body = {"email": scene.outsider.email, "role": "viewer"}
    assert send(admin, "POST", path, body, "invite").status_code == 201
    scene.owner.patch(f"/workspaces/{scene.workspace_id}/members/{admin.id}", json={"role": "member"})
    replay = send(admin, "POST", path, body, "invite")
    assert replay.status_code == 403, replay.text
    rename = send(admin, "PATCH", f"/workspaces/{scene.workspace_id}", {"name": "X"}, "rename")
    assert rename.status_code == 403


def test_a_member_who_left_may_replay_their_leaving(api: Api) -> None:
    scene = make_scene(api)
    path = f"/workspaces/{scene.workspace_id}/members/{scene.member.id}"
    first = send(scene.member, "DELETE", path, None, "leave")
    assert first.status_code == 204
    again = send(scene.member, "DELETE", path, None, "leave")
    assert again.status_code == 204
    assert again.headers["Idempotent-Replayed"] == "true"


def test_keys_belong_to_one_user_so_another_user_with_the_same_key_acts_independently(api: Api) -> None:
    scene = make_scene(api)
    path = f"/workspaces/{scene.workspace_id}/tasks"
    mine = send(scene.owner, "POST", path, {"title": "Shared key"}, "same-key")
    theirs = send(scene.member, "POST", path, {"title": "Shared key"}, "same-key")
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["createdBy"] == scene.member.id
    assert [t["title"] for t in tasks_of(scene.owner, scene.workspace_id)].count("Shared key") == 2


def test_a_refused_write_does_not_use_up_its_key(api: Api) -> None:
    scene = make_scene(api)
    viewer = api.register("Viewer")
    scene.owner.add_member(scene.workspace_id, viewer, "viewer")
    path = f"/workspaces/{scene.workspace_id}/tasks"
    assert send(viewer, "POST", path, {"title": "Later"}, "k1").status_code == 403
    scene.owner.patch(f"/workspaces/{scene.workspace_id}/members/{viewer.id}", json={"role": "member"})
    response = send(viewer, "POST", path, {"title": "Later"}, "k1")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def test_a_key_longer_than_255_characters_answers_422(api: Api) -> None:
    scene = make_scene(api)
    before = workspace_state(scene.owner, scene.workspace_id)
    response = send(scene.owner, "POST", f"/workspaces/{scene.workspace_id}/tasks", {"title": "T"}, "k" * 256)
    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == ["Idempotency-Key"]
    assert workspace_state(scene.owner, scene.workspace_id) == before


@pytest.mark.parametrize(
    "write", ["create workspace", "create task", "move task", "add member", "remove member", "delete task"]
)
def test_concurrent_duplicates_of_one_write_have_exactly_one_effect(api: Api, write: str) -> None:
    scene = make_scene(api)
    method, path, body = WRITES[write](scene)
    workspaces_before = len(scene.owner.get("/workspaces").json()["items"])
    events_before = len(events_of(scene.owner, scene.workspace_id))
    threads_count = 8
    start = threading.Barrier(threads_count)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def duplicate() -> None:
        user = scene.owner.on_own_connection()
        try:
            start.wait()
            response = send(user, method, path, body, "double-click")
            with lock:
                answers.append(response)
        finally:
            user.http.close()

    threads = [threading.Thread(target=duplicate) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == threads_count
    assert len({(a.status_code, a.content) for a in answers}) == 1, {a.status_code for a in answers}
    assert answers[0].status_code in {200, 201, 204}
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == threads_count - 1
    creates_workspace = write == "create workspace"
    assert len(scene.owner.get("/workspaces").json()["items"]) == workspaces_before + creates_workspace
    events = events_of(scene.owner, scene.workspace_id)
    assert len(events) == events_before + (not creates_workspace)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
