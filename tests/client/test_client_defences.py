"""What the client does when a server breaks its promises: duplicates, gaps, paged and reset syncs.

A real node never sends these (its own tests prove it), so a scripted WebSocket server plays one
that does; the client must still hand every event to its handlers once and in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from taskroom.client import Event, TodoWebSocketClient
from tests.client.support import quick_backoff, until

W = "workspace-1"


def envelope(seq: int, type_: str = "TASK_CREATED") -> dict[str, Any]:
    return {
        "type": type_,
        "data": {"workspaceId": W, "task": {"id": f"t{seq}"}, "actorId": "u"},
        "timestamp": "2026-11-27T00:00:00.000Z",
        "seq": seq,
        "eventId": f"e{seq}",
    }


Script = Callable[[ServerConnection, dict[str, Any], int], Awaitable[None]]


async def scripted_server(script: Script) -> tuple[Any, str, list[dict[str, Any]]]:
    """A server that greets, answers AUTHENTICATE, then runs `script(connection, auth, n)` for
    the n-th connection (from 1). Returns the server, its URL and every AUTHENTICATE received."""
    authentications: list[dict[str, Any]] = []

    async def handler(connection: ServerConnection) -> None:
        await connection.send(json.dumps({"type": "CONNECT", "data": {}}))
        auth = json.loads(await connection.recv())
        authentications.append(auth["data"])
        answer = {
            "type": "AUTHENTICATE",
            "data": {
                "success": True,
                "userId": "u",
                "expiresAt": "2099-01-01T00:00:00.000Z",
                "workspaces": [{"id": W, "seq": 0}],
                "denied": [],
            },
            "replyTo": auth["id"],
        }
        await connection.send(json.dumps(answer))
        await script(connection, auth["data"], len(authentications))
        await connection.wait_closed()

    server = await serve(handler, "127.0.0.1", 0)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, f"ws://127.0.0.1:{port}", authentications


def test_duplicates_are_dropped_and_a_gap_makes_the_client_resume_from_its_last_seq() -> None:
    async def script(connection: ServerConnection, auth: dict[str, Any], n: int) -> None:
        if n == 1:
            for seq in (1, 2, 2, 1, 4):  # a duplicate, an older one, then 3 is missing
                await connection.send(json.dumps(envelope(seq)))
        else:
            for seq in range(auth["resume"][W] + 1, 6):
                await connection.send(json.dumps(envelope(seq)))

    async def scenario() -> tuple[list[int | None], list[dict[str, Any]]]:
        server, url, authentications = await scripted_server(script)
        seen: list[Event] = []
        try:
            client = TodoWebSocketClient(url, "token", backoff=quick_backoff())
            client.on_task_created(seen.append)
            async with client:
                await until(lambda: len(seen) >= 5)
                await asyncio.sleep(0.1)  # nothing more may come
        finally:
            server.close()
            await server.wait_closed()
        return [e.seq for e in seen], authentications

    seqs, authentications = asyncio.run(scenario())
    assert seqs == [1, 2, 3, 4, 5]
    assert [a["resume"] for a in authentications] == [{}, {W: 2}]


def test_sync_pages_through_has_more_and_takes_a_reset_snapshot() -> None:
    async def script(connection: ServerConnection, auth: dict[str, Any], n: int) -> None:
        async for raw in connection:
            request = json.loads(raw)
            since = request["data"]["sinceSeq"]
            if since >= 4:  # past what this server retains
                data: dict[str, Any] = {
                    "workspaceId": W,
                    "reset": True,
                    "snapshot": {"tasks": []},
                    "latestSeq": 90,
                }
            else:
                events = [envelope(seq) for seq in range(since + 1, min(since + 2, 4) + 1)]
                data = {"workspaceId": W, "events": events, "latestSeq": 4, "hasMore": events[-1]["seq"] < 4}
            await connection.send(
                json.dumps({"type": "SYNC_RESPONSE", "data": data, "replyTo": request["id"]})
            )

    async def scenario() -> None:
        server, url, _ = await scripted_server(script)
        seen: list[Event] = []
        pages: list[Event] = []
        try:
            client = TodoWebSocketClient(url, "token", backoff=quick_backoff())
            client.on_task_created(seen.append)
            client.on_sync_response(pages.append)
            async with client:
                result = await client.sync(W)
                assert [e.seq for e in result.events] == [1, 2, 3, 4]
                assert result.latest_seq == 4 and result.snapshot is None
                await until(lambda: len(pages) == 2)
                assert [e.seq for e in seen] == [1, 2, 3, 4]
                assert client.last_seq(W) == 4

                reset = await client.sync(W)
                assert reset.snapshot == {"tasks": []} and reset.latest_seq == 90
                assert client.last_seq(W) == 90  # followed from the snapshot on
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_a_failing_handler_stops_nothing_and_a_handler_may_disconnect_the_client() -> None:
    async def script(connection: ServerConnection, auth: dict[str, Any], n: int) -> None:
        for seq in (1, 2, 3):
            await connection.send(json.dumps(envelope(seq)))

    async def scenario() -> tuple[list[int | None], str]:
        server, url, _ = await scripted_server(script)
        seen: list[int | None] = []
        finished = asyncio.Event()
        client = TodoWebSocketClient(url, "token", backoff=quick_backoff())

        @client.on_task_created
        def fails_on_two(event: Event) -> None:
            if event.seq == 2:
                raise RuntimeError("a bug in the app")

        @client.on_task_created
        async def collects_and_leaves(event: Event) -> None:
            seen.append(event.seq)
            if event.seq == 3:
                await client.disconnect()
                finished.set()

        try:
            await client.connect()
            await asyncio.wait_for(finished.wait(), 10)
        finally:
            server.close()
            await server.wait_closed()
        return seen, client.state.value

    seen, state = asyncio.run(scenario())
    assert seen == [1, 2, 3]
    assert state == "closed"
