"""The workspace event log over HTTP (PROTOCOL §2 "Sync over HTTP", §3.2 event data): every change
appends exactly one event of its type, `seq` runs 1..n without a gap, pages follow `since`/`limit`,
and a `since` older than what is retained answers 410 GONE."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, latest_seq, workspace_state
from tests.support.servers import RunningServer

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


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
    task = owner.create_task(wid, "Task", description="Text")
    return Scene(owner, member, outsider, wid, task)


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()) if response.content else {}


# name -> (event type, perform the change and return the event data it must have produced)
Mutation = Callable[[Scene], dict[str, Any]]


def _create_task(s: Scene) -> dict[str, Any]:
    task = ok(s.member.post(f"/workspaces/{s.workspace_id}/tasks", json={"title": "New"}), 201)
    return {"workspaceId": s.workspace_id, "task": task, "actorId": s.member.id}


def _update_task(s: Scene) -> dict[str, Any]:
    task = ok(s.member.patch(f"/tasks/{s.task['id']}", json={"title": "Renamed", "priority": "high"}))
    return {
        "workspaceId": s.workspace_id,
        "task": task,
        "changes": ["title", "priority"],
        "actorId": s.member.id,
    }


def _complete_task(s: Scene) -> dict[str, Any]:
    task = ok(s.member.post(f"/tasks/{s.task['id']}/complete", json={"completed": True}))
    return {"workspaceId": s.workspace_id, "task": task, "actorId": s.member.id}


def _uncomplete_task(s: Scene) -> dict[str, Any]:
    task = ok(s.member.post(f"/tasks/{s.task['id']}/complete", json={"completed": False}))
    assert task["completed"] is False
    return {"workspaceId": s.workspace_id, "task": task, "actorId": s.member.id}


def _move_task(s: Scene) -> dict[str, Any]:
    task = ok(s.member.post(f"/tasks/{s.task['id']}/move", json={"status": "in_progress"}))
    return {
        "workspaceId": s.workspace_id,
        "task": task,
        "from": {"status": "todo", "position": s.task["position"]},
        "to": {"status": "in_progress", "position": task["position"]},
        "actorId": s.member.id,
    }


def _delete_task(s: Scene) -> dict[str, Any]:
    ok(s.member.delete(f"/tasks/{s.task['id']}"), 204)
    return {"workspaceId": s.workspace_id, "taskId": s.task["id"], "actorId": s.member.id}


def _update_workspace(s: Scene) -> dict[str, Any]:
    workspace = ok(s.owner.patch(f"/workspaces/{s.workspace_id}", json={"description": "New text"}))
    del workspace["role"]  # the caller's own role is not part of a broadcast
    return {"workspaceId": s.workspace_id, "workspace": workspace, "actorId": s.owner.id}


def _add_member(s: Scene) -> dict[str, Any]:
    member = ok(
        s.owner.post(
            f"/workspaces/{s.workspace_id}/members", json={"email": s.outsider.email, "role": "viewer"}
        ),
        201,
    )
    return {"workspaceId": s.workspace_id, "member": member, "actorId": s.owner.id}


def _change_role(s: Scene) -> dict[str, Any]:
    member = ok(s.owner.patch(f"/workspaces/{s.workspace_id}/members/{s.member.id}", json={"role": "admin"}))
    return {"workspaceId": s.workspace_id, "member": member, "actorId": s.owner.id}


def _remove_member(s: Scene) -> dict[str, Any]:
    ok(s.owner.delete(f"/workspaces/{s.workspace_id}/members/{s.member.id}"), 204)
    return {"workspaceId": s.workspace_id, "userId": s.member.id, "actorId": s.owner.id}


def _leave(s: Scene) -> dict[str, Any]:
    ok(s.member.delete(f"/workspaces/{s.workspace_id}/members/{s.member.id}"), 204)
    return {"workspaceId": s.workspace_id, "userId": s.member.id, "actorId": s.member.id}


MUTATIONS: dict[str, tuple[str, Mutation]] = {
    "create task": ("TASK_CREATED", _create_task),
    "edit task": ("TASK_UPDATED", _update_task),
    "complete task": ("TASK_COMPLETED", _complete_task),
    "uncomplete task": ("TASK_COMPLETED", _uncomplete_task),
    "move task": ("TASK_MOVED", _move_task),
    "delete task": ("TASK_DELETED", _delete_task),
    "edit workspace": ("WORKSPACE_UPDATED", _update_workspace),
    "add member": ("WORKSPACE_MEMBER_ADDED", _add_member),
    "change role": ("WORKSPACE_MEMBER_UPDATED", _change_role),
    "remove member": ("WORKSPACE_MEMBER_REMOVED", _remove_member),
    "leave": ("WORKSPACE_MEMBER_REMOVED", _leave),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_every_change_appends_exactly_one_event_of_its_type_with_its_data(api: Api, mutation: str) -> None:
    event_type, perform = MUTATIONS[mutation]
    scene = make_scene(api)
    if mutation == "uncomplete task":
        ok(scene.owner.post(f"/tasks/{scene.task['id']}/complete", json={"completed": True}))
    before = events_of(scene.owner, scene.workspace_id)
    expected_data = perform(scene)
    after = events_of(scene.owner, scene.workspace_id)
    assert after[: len(before)] == before  # the log is append-only
    [event] = after[len(before) :]
    assert event["type"] == event_type
    assert event["data"] == expected_data
    assert event["seq"] == len(after)
    assert set(event) >= {"type", "data", "timestamp", "seq", "eventId"}
    assert TIMESTAMP.match(event["timestamp"])


def test_seq_runs_from_1_without_gaps_and_the_workspace_seq_is_the_latest(api: Api) -> None:
    scene = make_scene(api)
    for event_type, perform in MUTATIONS.values():
        if event_type not in {"WORKSPACE_MEMBER_REMOVED", "TASK_DELETED"}:
            perform(scene)
    events = events_of(scene.owner, scene.workspace_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["eventId"] for e in events}) == len(events)
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    workspace = scene.owner.get(f"/workspaces/{scene.workspace_id}").json()
    assert workspace["seq"] == len(events) == latest_seq(scene.owner, scene.workspace_id)


def test_creating_a_workspace_logs_nothing_in_it(api: Api) -> None:
    owner = api.register()
    workspace = owner.create_workspace()
    page = owner.get(f"/workspaces/{workspace['id']}/events").json()
    assert page == {"events": [], "latestSeq": 0, "hasMore": False}


# name -> a write that repeats the current values exactly
NO_OPS: dict[str, Callable[[Scene], Any]] = {
    "task PATCH with identical values": lambda s: s.owner.patch(
        f"/tasks/{s.task['id']}",
        json={k: s.task[k] for k in ("title", "description", "assigneeId", "dueDate", "priority")},
    ),
    "task PATCH with an empty body": lambda s: s.owner.patch(f"/tasks/{s.task['id']}", json={}),
    "complete to the current state": lambda s: s.owner.post(
        f"/tasks/{s.task['id']}/complete", json={"completed": False}
    ),
    "workspace PATCH with identical values": lambda s: s.owner.patch(
        f"/workspaces/{s.workspace_id}", json={"name": "Board", "description": None}
    ),
    "role change to the current role": lambda s: s.owner.patch(
        f"/workspaces/{s.workspace_id}/members/{s.member.id}", json={"role": "member"}
    ),
}


@pytest.mark.parametrize("write", list(NO_OPS))
def test_a_write_that_changes_nothing_adds_no_event_and_keeps_the_version(api: Api, write: str) -> None:
    scene = make_scene(api)
    before = workspace_state(scene.owner, scene.workspace_id)
    response = NO_OPS[write](scene)
    assert response.status_code == 200, response.text
    assert workspace_state(scene.owner, scene.workspace_id) == before


def test_pages_follow_since_and_limit_and_say_when_more_remain(api: Api) -> None:
    owner = api.register()
    wid = owner.create_workspace()["id"]
    for n in range(7):
        owner.create_task(wid, f"T{n}")

    def page(since: int, limit: int) -> tuple[list[int], int, bool]:
        response = owner.get(f"/workspaces/{wid}/events", params={"since": since, "limit": limit})
        assert response.status_code == 200
        body = response.json()
        return [e["seq"] for e in body["events"]], body["latestSeq"], body["hasMore"]

    assert page(0, 3) == ([1, 2, 3], 7, True)
    assert page(3, 3) == ([4, 5, 6], 7, True)
    assert page(6, 3) == ([7], 7, False)
    assert page(7, 3) == ([], 7, False)
    assert page(4, 1000) == ([5, 6, 7], 7, False)
    assert page(50, 10) == ([], 7, False)
    default = owner.get(f"/workspaces/{wid}/events").json()
    assert [e["seq"] for e in default["events"]] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": -1}, "since"),
        ({"since": "x"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
    ],
    ids=["negative-since", "text-since", "zero-limit", "huge-limit"],
)
def test_bad_paging_parameters_answer_422(api: Api, params: dict[str, Any], field: str) -> None:
    owner = api.register()
    wid = owner.create_workspace()["id"]
    response = owner.get(f"/workspaces/{wid}/events", params=params)
    assert response.status_code == 422
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == [field]


def test_since_older_than_the_retained_log_answers_410_gone(
    node_factory: Callable[..., RunningServer],
) -> None:
    # 1 ms retention: every event is past retention as soon as it is written.
    node = node_factory(ws_event_retention=1)
    api = Api(node.api)
    try:
        owner = api.register()
        wid = owner.create_workspace()["id"]
        for n in range(3):
            owner.create_task(wid, f"T{n}")
        # The node also prunes in the background (every second at this retention); pruning once
        # here, on the node's own loop, makes the test independent of that timer. The last
        # event must first be older than the 1 ms retention (a fast answer can beat it).
        time.sleep(0.01)
        node.run_on_loop(node.app_state.services.prune())

        for since in (0, 1, 2):
            response = owner.get(f"/workspaces/{wid}/events", params={"since": since})
            assert response.status_code == 410
            assert response.json()["error"]["code"] == "GONE"
        caught_up = owner.get(f"/workspaces/{wid}/events", params={"since": 3})
        assert caught_up.status_code == 200
        assert caught_up.json() == {"events": [], "latestSeq": 3, "hasMore": False}
        # The state itself is intact: a client that got 410 reloads it.
        assert len(owner.get(f"/workspaces/{wid}/tasks").json()["items"]) == 3
        assert owner.get(f"/workspaces/{wid}").json()["seq"] == 3
    finally:
        api.close()
