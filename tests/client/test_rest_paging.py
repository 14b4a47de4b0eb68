"""`TaskroomAPI` reads a big task list a page at a time and hands back every task once, in order."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from taskroom.client import ApiError, TaskroomAPI
from tests.client.support import new_account
from tests.support.bulk import column_keys, insert_tasks
from tests.support.servers import RunningServer


class CountingTransport(httpx.AsyncHTTPTransport):
    """The real transport, noting the query of every task-list request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.list_queries: list[dict[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/tasks"):
            self.list_queries.append(dict(request.url.params))
        return await super().handle_async_request(request)


def test_list_tasks_pages_through_every_task_in_board_order(node: RunningServer) -> None:
    transport = CountingTransport()

    async def scenario() -> None:
        async with TaskroomAPI(node.base_url, transport=transport) as api:
            user = await new_account(api)
            workspace = (await api.create_workspace("Big"))["id"]
            rows = [
                {"status": status, "position": position}
                for status in ("done", "todo", "in_progress")
                for position in column_keys(430)
            ]
            ids = await asyncio.to_thread(insert_tasks, node, workspace, user["id"], rows)
            rank = {"todo": 0, "in_progress": 1, "done": 2}
            expected = [
                task_id
                for task_id, _ in sorted(
                    zip(ids, rows, strict=True),
                    key=lambda pair: (rank[pair[1]["status"]], pair[1]["position"], pair[0]),
                )
            ]

            tasks = await api.list_tasks(workspace)
            assert [t["id"] for t in tasks] == expected
            assert len(transport.list_queries) == 7  # 1,290 tasks at the server's 200 a page

            transport.list_queries.clear()
            pages = [t["id"] async for t in api.iter_tasks(workspace, status="in_progress", page_size=100)]
            assert pages == expected[430:860]
            assert len(transport.list_queries) == 5
            assert all(q["limit"] == "100" and q["status"] == "in_progress" for q in transport.list_queries)
            assert "cursor" not in transport.list_queries[0]
            assert all("cursor" in q for q in transport.list_queries[1:])

            first = await api.list_tasks_page(workspace, limit=3)
            assert [t["id"] for t in first["items"]] == expected[:3]
            second = await api.list_tasks_page(workspace, limit=3, cursor=first["nextCursor"])
            assert [t["id"] for t in second["items"]] == expected[3:6]

            with pytest.raises(ApiError) as bad:
                await api.list_tasks_page(workspace, cursor="not-a-cursor")
            assert (bad.value.status, bad.value.code) == (422, "VALIDATION_ERROR")
            with pytest.raises(ApiError) as too_many:
                await api.list_tasks(workspace, page_size=501)
            assert too_many.value.status == 422

    asyncio.run(scenario())


def test_snapshot_reads_every_page_of_a_big_workspace(node: RunningServer) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(node.base_url) as api:
            user = await new_account(api)
            workspace = (await api.create_workspace("Big snapshot"))["id"]
            rows = [{"status": "todo", "position": position} for position in column_keys(2300)]
            await asyncio.to_thread(insert_tasks, node, workspace, user["id"], rows)
            await api.create_task(workspace, "through the log")

            snapshot = await api.snapshot(workspace)
            assert set(snapshot) == {"workspace", "members", "tasks", "latestSeq"}
            assert snapshot["tasks"] == await api.list_tasks(workspace)
            assert len(snapshot["tasks"]) == 2301
            assert snapshot["latestSeq"] == (await api.events(workspace))["latestSeq"]
            assert [m["userId"] for m in snapshot["members"]] == [user["id"]]

    asyncio.run(scenario())
