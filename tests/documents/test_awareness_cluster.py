"""Over two nodes on one PostgreSQL and one Redis: awareness owners and the per-user document limit.

An awareness client id announced on one node belongs to that node's connection on the other node
too; a user's document connections are counted over both nodes (DOC_MAX_CONNECTIONS_PER_USER).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.documents.test_awareness import joined, marker
from tests.documents.test_descriptions import scene
from tests.realtime.test_cluster import NO_LOG_POLL
from tests.support.api import Api
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis
from tests.support.servers import RunningServer, start_server
from tests.support.ydoc import YDocClient, awareness_frame, doc_url

DOC_CONNECTIONS = 3


@pytest.fixture(scope="module")
def two_nodes(database_factory: Callable[[str], str]) -> Iterator[tuple[RunningServer, RunningServer]]:
    require_redis()
    database_url = database_factory("postgres")
    prefix = fresh_prefix()
    settings: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "redis_prefix": prefix,
        "ws_log_poll_interval": NO_LOG_POLL,
        "doc_max_connections_per_user": DOC_CONNECTIONS,
    }
    a = start_server(database_url, **settings)
    b = start_server(database_url, **settings)
    yield a, b
    b.stop()
    a.stop()


def test_an_awareness_state_announced_on_one_node_cannot_be_taken_over_on_another(
    two_nodes: tuple[RunningServer, RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    a, b = two_nodes
    api = api_factory(a)
    owner, workspace_id, task = scene(api)
    intruder = api.register("Intruder")
    owner.add_member(workspace_id, intruder)

    async def run() -> tuple[Any, Any]:
        victim = await joined(doc_url(a.ws_url, task["id"], owner.token))
        watcher_a = await joined(doc_url(a.ws_url, task["id"], owner.token))
        watcher_b = await joined(doc_url(b.ws_url, task["id"], owner.token))
        other = await joined(doc_url(b.ws_url, task["id"], intruder.token))
        await victim.send_awareness({"user": {"name": "Victim"}})
        victim_id = victim.doc.client_id
        for client in (watcher_a, watcher_b, other):
            await client.wait_for(lambda c=client: victim_id in c.others)
        clock = victim.awareness.meta[victim_id]["clock"]
        await other.send_raw(
            awareness_frame([(victim_id, clock + 5, json.dumps({"user": {"name": "Impostor"}}))])
        )
        await other.send_raw(awareness_frame([(victim_id, clock + 6, "null")]))
        # The intruder's own state reaches both nodes after what it sent before.
        await marker(other, [watcher_a, watcher_b], "Intruder")
        seen = watcher_a.others.get(victim_id), watcher_b.others.get(victim_id)
        for client in (victim, watcher_a, watcher_b, other):
            await client.disconnect()
        return seen

    assert asyncio.run(run()) == ({"user": {"name": "Victim"}}, {"user": {"name": "Victim"}})


async def admitted(url: str) -> YDocClient | None:
    """A client synced with the document, or None when the server closed it first."""
    client = await YDocClient(url).connect()
    waits = {asyncio.ensure_future(client.synced.wait()), asyncio.ensure_future(client.closed())}
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        wait.cancel()
    return client if client.synced.is_set() else None


def test_a_users_document_connections_are_counted_over_every_node(
    two_nodes: tuple[RunningServer, RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    a, b = two_nodes
    owner, _, task = scene(api_factory(a), "Counted")
    on_a, on_b = (doc_url(node.ws_url, task["id"], owner.token) for node in (a, b))

    async def run() -> tuple[int | None, str]:
        held = [await joined(on_a), await joined(on_a), await joined(on_b)]  # the limit, over two nodes
        extra = await YDocClient(on_b).connect()
        refused = await extra.closed()
        assert await admitted(on_a) is None  # nor on node A
        # One leaves on node A: its slot is free for node B (once A has released it).
        await held.pop(0).disconnect()
        for _ in range(100):  # node A closes the slot as its connection ends, a moment after
            again = await admitted(on_b)
            if again is not None:
                break
            await asyncio.sleep(0.1)
        assert again is not None
        text = again.value()
        for client in (*held, again):
            await client.disconnect()
        return refused, text

    refused, text = asyncio.run(run())
    assert refused == 1013
    assert text == "Counted"
