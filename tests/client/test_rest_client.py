"""`TaskroomAPI` against real nodes: the offline queue and conflicts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from taskroom.client import ApiError, TaskroomAPI, WriteQueued, WriteRequest
from tests.client.support import new_account
from tests.support.processes import NodeProcess
from tests.support.servers import RunningServer


def test_writes_made_while_the_server_is_down_are_queued_and_replayed_exactly_once(
    node_process: Callable[..., NodeProcess],
) -> None:
    node = node_process()

    async def scenario() -> None:
        async with TaskroomAPI(node.base_url) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Board"))["id"]
            node.terminate()

            with pytest.raises(WriteQueued) as queued:
                await api.create_task(workspace, "written offline", priority="high")
            with pytest.raises(WriteQueued) as queued_second:
                await api.update_workspace(workspace, name="Renamed offline")
            first, second = queued.value.request, queued_second.value.request
            assert api.pending == [first, second]
            assert first.idempotency_key != second.idempotency_key
            still_down = await api.flush_queue()
            assert (len(still_down.applied), still_down.remaining) == (0, 2)

            await asyncio.to_thread(node.start)
            flushed = await api.flush_queue()
            assert flushed.remaining == 0 and flushed.refused == []
            assert [request for request, _ in flushed.applied] == [first, second]
            created = flushed.applied[0][1]
            assert created["title"] == "written offline" and created["priority"] == "high"

            again = await api.flush_queue()
            assert (again.applied, again.refused, again.remaining) == ([], [], 0)

            # The same write replayed once more (its answer lost, say) still has one effect.
            api.enqueue(first)
            replayed = await api.flush_queue()
            assert replayed.applied[0][1]["id"] == created["id"]

            tasks = await api.list_tasks(workspace)
            assert [t["title"] for t in tasks] == ["written offline"]
            assert (await api.get_workspace(workspace))["name"] == "Renamed offline"
            log = (await api.events(workspace))["events"]
            assert [e["type"] for e in log] == ["TASK_CREATED", "WORKSPACE_UPDATED"]

    asyncio.run(scenario())


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The real transport, noting the Idempotency-Key of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[tuple[str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append((request.method, request.headers.get("Idempotency-Key")))
        return await super().handle_async_request(request)


def test_every_write_carries_its_own_idempotency_key(sqlite_node: RunningServer) -> None:
    transport = RecordingTransport()

    async def scenario() -> None:
        async with TaskroomAPI(sqlite_node.base_url, transport=transport) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Board"))["id"]
            task = await api.create_task(workspace, "one")
            await api.complete_task(task["id"])
            await api.list_tasks(workspace)
            await api.delete_task(task["id"])

    asyncio.run(scenario())
    # register (no user yet, so no key), then four writes with a key each, and the read without.
    assert [method for method, _ in transport.keys] == ["POST", "POST", "POST", "POST", "GET", "DELETE"]
    keys = [key for method, key in transport.keys[1:] if method != "GET"]
    assert all(keys) and len(set(keys)) == 4
    assert transport.keys[0][1] is None and transport.keys[4][1] is None


def test_the_trash_restore_and_activity_through_the_client(sqlite_node: RunningServer) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(sqlite_node.base_url) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Board"))["id"]
            tasks = [await api.create_task(workspace, f"t{n}") for n in range(3)]
            for task in tasks:
                await api.delete_task(task["id"])
            assert [t["title"] for t in await api.list_trash(workspace, page_size=2)] == ["t2", "t1", "t0"]
            first = await api.trash_page(workspace, limit=1)
            assert len(first["items"]) == 1 and first["nextCursor"] is not None
            restored = await api.restore_task(tasks[1]["id"])
            assert restored["position"] == tasks[1]["position"]
            assert [t["title"] for t in await api.list_tasks(workspace)] == ["t1"]
            await api.update_task(tasks[1]["id"], title="t1, renamed")
            page = await api.task_activity(tasks[1]["id"], limit=1)
            assert page["hasMore"] is True
            assert page["items"][0]["changes"] == {"title": {"from": "t1", "to": "t1, renamed"}}
            older = await api.task_activity(tasks[1]["id"], before=page["items"][0]["seq"])
            assert [i["type"] for i in older["items"]] == ["TASK_RESTORED", "TASK_DELETED", "TASK_CREATED"]

    asyncio.run(scenario())


def test_a_conflict_goes_to_the_callback_with_the_current_task(sqlite_node: RunningServer) -> None:
    async def scenario() -> None:
        conflicts: list[tuple[WriteRequest, dict[str, Any]]] = []

        async def on_conflict(request: WriteRequest, current: dict[str, Any]) -> None:
            conflicts.append((request, current))

        async with TaskroomAPI(sqlite_node.base_url, on_conflict=on_conflict) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Board"))["id"]
            task = await api.create_task(workspace, "draft")
            theirs = await api.update_task(task["id"], title="their title")  # someone else, version 2

            answer = await api.update_task(task["id"], title="my title", base_version=task["version"])

            assert answer == theirs
            [(request, current)] = conflicts
            assert request.path == f"/tasks/{task['id']}"
            assert request.body == {"title": "my title", "baseVersion": task["version"]}
            assert current["title"] == "their title" and current["version"] == theirs["version"]
            assert (await api.get_task(task["id"]))["title"] == "their title"

            # A change to a field nobody else touched merges, and the callback is not called.
            merged = await api.update_task(task["id"], priority="urgent", base_version=task["version"])
            assert merged["title"] == "their title" and merged["priority"] == "urgent"
            assert len(conflicts) == 1

            # Without a callback the conflict is raised, with the current task attached.
            api.on_conflict = None
            with pytest.raises(ApiError) as raised:
                await api.update_task(task["id"], title="again mine", base_version=task["version"])
            assert raised.value.status == 409 and raised.value.code == "CONFLICT"
            assert raised.value.current is not None and raised.value.current["title"] == "their title"

    asyncio.run(scenario())


def test_a_refused_write_is_raised_and_not_queued(sqlite_node: RunningServer) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(sqlite_node.base_url) as api:
            await new_account(api)
            with pytest.raises(ApiError) as raised:
                await api.create_task("no-such-workspace", "lost")
            assert raised.value.status == 404 and raised.value.code == "NOT_FOUND"
            with pytest.raises(ApiError) as invalid:
                await api.create_workspace("")
            assert invalid.value.status == 422
            assert api.pending == []

    asyncio.run(scenario())


def test_columns_set_through_the_client_decide_where_completion_moves_a_task(node: RunningServer) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(node.base_url) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Columns"))["id"]
            columns = [
                {"key": "todo", "name": "Backlog", "done": False},
                {"key": "shipped", "name": "Shipped", "done": True},
            ]
            updated = await api.update_workspace(workspace, columns=columns)
            assert updated["columns"] == columns
            task = await api.create_task(workspace, "Ship it")
            done = await api.complete_task(task["id"])
            assert (done["status"], done["completed"]) == ("shipped", True)
            with pytest.raises(ApiError) as refused:
                await api.update_workspace(workspace, columns=[columns[0], {**columns[1], "key": "done"}])
            assert (refused.value.status, refused.value.code) == (409, "COLUMN_NOT_EMPTY")

    asyncio.run(scenario())
