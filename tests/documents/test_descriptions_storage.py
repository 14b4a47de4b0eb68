"""A task's document is stored: it survives a restart of the node, and compaction loses nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.realtime.clients import eventually
from tests.support.api import Api
from tests.support.servers import RunningServer, start_server
from tests.support.ydoc import YDocClient, doc_url


@pytest.fixture
def database_url(database_factory: Callable[[str], str], backend: str) -> str:
    return database_factory(backend)


@pytest.fixture
def restartable(database_url: str) -> Iterator[Callable[..., RunningServer]]:
    """Start a node on the test's database; the previous one started here is stopped first."""
    started: list[RunningServer] = []

    def start(**overrides: object) -> RunningServer:
        if started:
            started[-1].stop()
        started.append(start_server(database_url, **overrides))
        return started[-1]

    yield start
    started[-1].stop()


def read_document(url: str) -> str:
    async def read() -> str:
        async with YDocClient(url) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            return client.value()

    return asyncio.run(read())


def test_the_document_survives_a_restart_and_compaction(restartable: Callable[..., RunningServer]) -> None:
    # Compact after every 3 stored updates, so that this edit is folded into snapshots several times.
    first = restartable(doc_compact_updates=3)
    api = Api(first.api)
    owner = api.register("Owner")
    task = owner.create_task(owner.create_workspace()["id"], "Durable", description="Begin")

    async def edit() -> str:
        async with YDocClient(doc_url(first.ws_url, task["id"], owner.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            for word in range(10):
                client.insert(len(client.value()), f" w{word}")
                await asyncio.sleep(0.01)
            client.delete(0, len("Begin "))
            return client.value()

    edited = asyncio.run(edit())
    assert edited == "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"
    # Still open elsewhere: a second client reads the same from the node.
    assert read_document(doc_url(first.ws_url, task["id"], owner.token)) == edited

    second = restartable()
    assert read_document(doc_url(second.ws_url, task["id"], owner.token)) == edited
    with httpx.Client(base_url=second.api, headers={"Authorization": f"Bearer {owner.token}"}) as http:
        assert http.get(f"/tasks/{task['id']}").json()["description"] == edited
    api.close()
    # What was read back had been folded into snapshots (each compaction bumps the version).
    store = second.app_state.node.documents.store
    stored = second.call(lambda: store.changes(task["id"], 0, ()))
    assert stored is not None and stored.version > 2


def test_the_token_in_the_query_never_reaches_the_log(
    node_factory: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = node_factory(log_level="info")
    api = Api(server.api)
    owner = api.register("Owner")
    task = owner.create_task(owner.create_workspace()["id"], "Secret")
    api.close()
    # uvicorn's loggers do not propagate to the root logger: listen on them directly.
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn.access")]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            assert read_document(doc_url(server.ws_url, task["id"], owner.token)) == ""
            refused_url = doc_url(server.ws_url, task["id"], owner.token + "x")
            with pytest.raises(Exception, match="401"):
                read_document(refused_url)

            eventually(lambda: sum(f"/tasks/{task['id']}/doc" in r.getMessage() for r in caplog.records) >= 2)
    finally:
        for logger in loggers:
            logger.removeHandler(caplog.handler)
    lines = [record.getMessage() for record in caplog.records]
    assert any("token=[redacted]" in line for line in lines), lines
    assert not any(owner.token in line for line in lines)


def test_nodes_without_a_broker_between_them_converge_through_the_stored_updates(
    database_factory: Callable[[str], str],
) -> None:
    # Two nodes on one PostgreSQL and no Redis: nothing is relayed between them, so what crosses
    # crosses through the database re-read (the safety net for a relay lost on the way).
    database_url = database_factory("postgres")
    a = start_server(database_url, doc_resync_interval=200)
    b = start_server(database_url, doc_resync_interval=200)
    try:
        api = Api(a.api)
        owner = api.register("Owner")
        task = owner.create_task(owner.create_workspace()["id"], "Apart", description="base")
        api.close()

        async def run() -> tuple[str, str]:
            async with (
                YDocClient(doc_url(a.ws_url, task["id"], owner.token)) as left,
                YDocClient(doc_url(b.ws_url, task["id"], owner.token)) as right,
            ):
                await asyncio.wait_for(asyncio.gather(left.synced.wait(), right.synced.wait()), 10)
                left.insert(0, "left ")
                right.insert(len(right.value()), " right")
                for client in (left, right):
                    await client.wait_for(lambda c=client: "left" in c.value() and "right" in c.value())
                return left.value(), right.value()

        left, right = asyncio.run(run())
        assert left == right == "left base right"
    finally:
        a.stop()
        b.stop()
