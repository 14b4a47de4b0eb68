"""Many clients writing to one workspace at once: the log stays exactly 1..N, state matches the log,
and racing writes of the same thing have one effect. Runs on both backends (SQLite serializes its
writers; PostgreSQL relies on the workspace row lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, tasks_of


def run_in_threads(count: int, body: Callable[[int], None]) -> None:
    """Start `count` threads together; re-raise the first failure in the test's thread."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            start.wait()
            body(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer thread hung"
    if errors:
        raise errors[0]


def test_parallel_writers_leave_a_log_numbered_1_to_n_that_matches_the_final_state(api: Api) -> None:
    owner = api.register("Owner")
    wid = owner.create_workspace()["id"]
    writers = [api.register(f"Writer {i}") for i in range(8)]
    for writer in writers:
        owner.add_member(wid, writer, "member")
    events_before = len(events_of(owner, wid))
    successes = [0] * len(writers)
    created: list[list[str]] = [[] for _ in writers]

    def write(index: int) -> None:
        user = writers[index].on_own_connection()
        own: list[str] = created[index]
        completed: dict[str, bool] = {}
        try:
            for step in range(25):
                kind = step % 5
                response: httpx.Response
                if kind == 0 or not own:
                    response = user.post(f"/workspaces/{wid}/tasks", json={"title": f"w{index}-{step}"})
                    if response.status_code == 201:
                        own.append(response.json()["id"])
                        completed[own[-1]] = response.json()["completed"]
                elif kind == 1:
                    response = user.patch(f"/tasks/{own[-1]}", json={"title": f"w{index}-{step}-edited"})
                elif kind == 2:
                    task_id = own[step % len(own)]
                    completed[task_id] = not completed[task_id]
                    response = user.post(f"/tasks/{task_id}/complete", json={"completed": completed[task_id]})
                elif kind == 3:
                    column = ("todo", "in_progress", "done")[step % 3]
                    response = user.post(f"/tasks/{own[0]}/move", json={"status": column})
                else:
                    response = user.post(
                        f"/workspaces/{wid}/tasks", json={"title": f"w{index}-{step}", "status": "done"}
                    )
                    if response.status_code == 201:
                        own.append(response.json()["id"])
                        completed[own[-1]] = response.json()["completed"]
                assert response.status_code in {200, 201}, response.text
                successes[index] += 1
        finally:
            user.http.close()

    run_in_threads(len(writers), write)

    events = events_of(owner, wid)
    new_events = events[events_before:]
    assert len(new_events) == sum(successes) == 8 * 25
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["eventId"] for e in events}) == len(events)
    assert owner.get(f"/workspaces/{wid}").json()["seq"] == len(events)

    tasks = {t["id"]: t for t in tasks_of(owner, wid)}
    assert set(tasks) == {task_id for own in created for task_id in own}
    # The last event about each task carries the task exactly as it is now.
    last_seen: dict[str, dict[str, Any]] = {}
    for event in new_events:
        last_seen[event["data"]["task"]["id"]] = event["data"]["task"]
    assert last_seen == tasks
    for task in tasks.values():
        assert task["version"] == sum(1 for e in new_events if e["data"]["task"]["id"] == task["id"])


def test_concurrent_moves_into_the_same_gap_all_land_between_the_neighbours_with_distinct_positions(
    api: Api,
) -> None:
    owner = api.register("Owner")
    wid = owner.create_workspace()["id"]
    top = owner.create_task(wid, "top")
    bottom = owner.create_task(wid, "bottom")
    movers = [owner.create_task(wid, f"m{i}", status="done") for i in range(8)]
    answers: list[dict[str, Any]] = []

    def move(index: int) -> None:
        user = owner.on_own_connection()
        try:
            response = user.post(
                f"/tasks/{movers[index]['id']}/move",
                json={"status": "todo", "beforeId": top["id"], "afterId": bottom["id"]},
            )
            assert response.status_code == 200, response.text
            answers.append(response.json())
        finally:
            user.http.close()

    run_in_threads(len(movers), move)

    listed = tasks_of(owner, wid)
    assert listed[0]["id"] == top["id"]
    assert listed[-1]["id"] == bottom["id"]
    assert {t["id"] for t in listed[1:-1]} == {m["id"] for m in movers}
    positions = [t["position"] for t in listed]
    assert len(set(positions)) == len(positions)
    assert positions == sorted(positions, key=str.encode)


def everyone(owner: ApiUser, count: int, request: Callable[[ApiUser], httpx.Response]) -> list[int]:
    """The same request sent by `count` connections of one user at once; their status codes."""
    codes: list[int] = []

    def send(_index: int) -> None:
        user = owner.on_own_connection()
        try:
            codes.append(request(user).status_code)
        finally:
            user.http.close()

    run_in_threads(count, send)
    return sorted(codes)


def test_racing_removals_of_one_member_remove_once_and_log_once(api: Api) -> None:
    owner, bob = api.register("Owner"), api.register("Bob")
    wid = owner.create_workspace()["id"]
    owner.add_member(wid, bob, "member")
    codes = everyone(owner, 6, lambda u: u.delete(f"/workspaces/{wid}/members/{bob.id}"))
    assert codes == [204] + [404] * 5
    assert [e["type"] for e in events_of(owner, wid)] == [
        "WORKSPACE_MEMBER_ADDED",
        "WORKSPACE_MEMBER_REMOVED",
    ]


def test_racing_adds_of_one_user_add_once_and_the_rest_answer_409(api: Api) -> None:
    owner, bob = api.register("Owner"), api.register("Bob")
    wid = owner.create_workspace()["id"]
    codes = everyone(
        owner, 6, lambda u: u.post(f"/workspaces/{wid}/members", json={"email": bob.email, "role": "member"})
    )
    assert codes == [201] + [409] * 5
    assert [e["type"] for e in events_of(owner, wid)] == ["WORKSPACE_MEMBER_ADDED"]


def test_racing_identical_role_changes_change_once_and_log_once(api: Api) -> None:
    owner, bob = api.register("Owner"), api.register("Bob")
    wid = owner.create_workspace()["id"]
    owner.add_member(wid, bob, "viewer")
    codes = everyone(
        owner, 6, lambda u: u.patch(f"/workspaces/{wid}/members/{bob.id}", json={"role": "admin"})
    )
    assert codes == [200] * 6
    assert [e["type"] for e in events_of(owner, wid)] == [
        "WORKSPACE_MEMBER_ADDED",
        "WORKSPACE_MEMBER_UPDATED",
    ]


def test_racing_identical_workspace_renames_rename_once_and_log_once(api: Api) -> None:
    owner = api.register("Owner")
    wid = owner.create_workspace("Old")["id"]
    codes = everyone(owner, 6, lambda u: u.patch(f"/workspaces/{wid}", json={"name": "New"}))
    assert codes == [200] * 6
    assert [e["type"] for e in events_of(owner, wid)] == ["WORKSPACE_UPDATED"]


def test_racing_identical_task_edits_change_once_and_log_once(api: Api) -> None:
    owner = api.register("Owner")
    wid = owner.create_workspace()["id"]
    task = owner.create_task(wid, "Old")
    codes = everyone(owner, 6, lambda u: u.patch(f"/tasks/{task['id']}", json={"title": "New"}))
    assert codes == [200] * 6
    assert [e["type"] for e in events_of(owner, wid)] == ["TASK_CREATED", "TASK_UPDATED"]
    assert owner.get(f"/tasks/{task['id']}").json()["version"] == 2


def test_racing_deletes_of_one_task_trash_it_once_and_log_once(api: Api) -> None:
    owner = api.register("Owner")
    wid = owner.create_workspace()["id"]
    task = owner.create_task(wid)
    codes = everyone(owner, 6, lambda u: u.delete(f"/tasks/{task['id']}"))
    assert codes == [204] + [404] * 5
    assert [e["type"] for e in events_of(owner, wid)] == ["TASK_CREATED", "TASK_DELETED"]
    assert len(owner.get(f"/workspaces/{wid}/trash").json()["items"]) == 1
