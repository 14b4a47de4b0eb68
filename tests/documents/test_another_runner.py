"""The document endpoint under uvicorn's own WebSocket protocol (another runner than `taskroom serve`).

There the route gets no socket of Taskroom's to write to, and its frames go through ASGI instead:
a client still syncs, sees the others' edits, and is told why it is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from tests.documents.test_descriptions import scene
from tests.support.api import Api
from tests.support.servers import RunningServer, start_server
from tests.support.ydoc import YDocClient, doc_url


@pytest.fixture(scope="module")
def plain_node(database_factory: Callable[[str], str]) -> Iterator[RunningServer]:
    node = start_server(
        database_factory("sqlite"),
        uvicorn_options={"ws": "websockets-sansio"},
        doc_max_connections_per_user=2,
    )
    yield node
    node.stop()


def test_edits_reach_the_other_readers_through_asgi(
    plain_node: RunningServer, api_factory: Callable[[RunningServer], Api]
) -> None:
    owner, _, task = scene(api_factory(plain_node))
    url = doc_url(plain_node.ws_url, task["id"], owner.token)

    async def run() -> tuple[str, str]:
        async with YDocClient(url) as writer, YDocClient(url) as reader:
            await asyncio.wait_for(writer.synced.wait(), 10)
            await asyncio.wait_for(reader.synced.wait(), 10)
            writer.insert(5, ", world")
            await reader.wait_for(lambda: reader.value() == "Hello, world")
            return writer.value(), reader.value()

    assert asyncio.run(run()) == ("Hello, world", "Hello, world")


def test_a_connection_past_the_users_limit_is_closed_with_1013_through_asgi(
    plain_node: RunningServer, api_factory: Callable[[RunningServer], Api]
) -> None:
    owner, _, task = scene(api_factory(plain_node))
    url = doc_url(plain_node.ws_url, task["id"], owner.token)

    async def run() -> int | None:
        async with YDocClient(url) as first, YDocClient(url) as second:
            await asyncio.wait_for(first.synced.wait(), 10)
            await asyncio.wait_for(second.synced.wait(), 10)
            async with YDocClient(url) as third:
                return await third.closed()

    assert asyncio.run(run()) == 1013
