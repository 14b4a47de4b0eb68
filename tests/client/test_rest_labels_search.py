"""`TaskroomAPI` sets labels and searches and filters the task list (PROTOCOL §7)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from taskroom.client import ApiError, TaskroomAPI
from tests.client.support import new_account
from tests.support.servers import RunningServer


def test_labels_filters_and_search_through_the_client(node: RunningServer) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(node.base_url) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Search"))["id"]
            title_hit = await api.create_task(
                workspace, "Release notes", labels=("docs", "release"), priority="high"
            )
            assert title_hit["labels"] == ["docs", "release"]
            description_hit = await api.create_task(
                workspace, "Tidy up", description="before the release", due_date="2026-12-01T09:00:00Z"
            )
            unrelated = await api.create_task(workspace, "Unrelated", labels=["docs"])

            found = await api.list_tasks(workspace, q="release")
            assert [t["id"] for t in found] == [title_hit["id"], description_hit["id"]]
            paged = [t["id"] async for t in api.iter_tasks(workspace, q="release", page_size=1)]
            assert paged == [title_hit["id"], description_hit["id"]]
            assert [t["id"] for t in await api.list_tasks(workspace, q="release", label="docs")] == [
                title_hit["id"]
            ]
            assert [t["id"] for t in await api.list_tasks(workspace, priority="high")] == [title_hit["id"]]
            due = await api.list_tasks(
                workspace, due_before=datetime(2026, 12, 2), due_after="2026-12-01T09:00:00Z"
            )
            assert [t["id"] for t in due] == [description_hit["id"]]

            updated = await api.update_task(
                title_hit["id"], labels=["release"], base_version=title_hit["version"]
            )
            assert updated["labels"] == ["release"]
            assert [t["id"] for t in await api.list_tasks(workspace, label="docs")] == [unrelated["id"]]
            with pytest.raises(ApiError) as refused:
                await api.update_task(title_hit["id"], labels=["x" * 41])
            assert refused.value.status == 422
            with pytest.raises(TypeError):
                await api.create_task(workspace, "One string", labels="docs")

    asyncio.run(scenario())
