"""Shared task descriptions on one node (PROTOCOL §3.6), with pycrdt clients over the y-websocket protocol.

Each test runs on both backends (the shared `node` fixture) unless it needs settings of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.realtime.clients import eventually
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer
from tests.support.ydoc import YDocClient, doc_url


def scene(api: Api, description: str | None = "Hello") -> tuple[ApiUser, str, dict[str, Any]]:
    owner = api.register("Owner")
    workspace_id = owner.create_workspace()["id"]
    extra = {"description": description} if description is not None else {}
    task = owner.create_task(workspace_id, "Write the spec", **extra)
    return owner, workspace_id, task


def description_of(user: ApiUser, task_id: str) -> Any:
    response = user.get(f"/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()["description"]


def description_events(user: ApiUser, workspace_id: str, task_id: str) -> list[dict[str, Any]]:
    response = user.get(f"/workspaces/{workspace_id}/events", params={"since": 0})
    assert response.status_code == 200, response.text
    return [
        event
        for event in response.json()["events"]
        if event["type"] == "TASK_UPDATED"
        and event["data"]["task"]["id"] == task_id
        and event["data"]["changes"] == ["description"]
    ]


def test_two_clients_edit_at_once_converge_and_the_task_description_follows(
    node: RunningServer, api: Api
) -> None:
    owner, workspace_id, task = scene(api, "Hello")
    member = api.register("Member")
    owner.add_member(workspace_id, member)

    async def edit() -> tuple[str, str]:
        async with (
            YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as a,
            YDocClient(doc_url(node.ws_url, task["id"], member.token)) as b,
        ):
            await asyncio.wait_for(asyncio.gather(a.synced.wait(), b.synced.wait()), 10)
            assert a.value() == b.value() == "Hello"
            # Concurrent: neither has seen the other's change when making its own.
            a.insert(5, ", world")
            b.delete(0, 1)
            b.insert(0, "J")
            for round_ in range(5):
                a.insert(len(a.value()), f" a{round_}")
                b.insert(0, f"b{round_} ")
            # Each waits until it has every edit of both sides.
            size = len("Jello, world") + 5 * len(" a0") + 5 * len("b0 ")
            await a.wait_for(lambda: len(a.value()) == size)
            await b.wait_for(lambda: len(b.value()) == size)
            return a.value(), b.value()

    text_a, text_b = asyncio.run(edit())
    assert text_a == text_b
    assert text_a.startswith("b4 b3 b2 b1 b0 Jello, world")
    assert text_a.endswith(" a0 a1 a2 a3 a4")
    eventually(lambda: description_of(owner, task["id"]) == text_a, timeout=10)
    events = description_events(owner, workspace_id, task["id"])
    assert events and events[-1]["data"]["task"]["description"] == text_a


def test_a_new_client_receives_the_document_as_edited(node: RunningServer, api: Api) -> None:
    owner, _, task = scene(api, "Start")

    async def run() -> str:
        async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as first:
            await asyncio.wait_for(first.synced.wait(), 10)
            first.insert(5, " here")
            async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as second:
                await second.wait_for(lambda: second.value() == "Start here")
                return second.value()

    assert asyncio.run(run()) == "Start here"


def test_a_rest_edit_of_the_description_reaches_an_open_document(node: RunningServer, api: Api) -> None:
    owner, workspace_id, task = scene(api, "Old text")

    async def run() -> str:
        async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            patched = await asyncio.to_thread(
                owner.patch, f"/tasks/{task['id']}", json={"description": "New text from REST"}
            )
            assert patched.status_code == 200, patched.text
            await client.wait_for(lambda: client.value() == "New text from REST")
            client.insert(0, "Edited: ")
            return "Edited: New text from REST"

    expected = asyncio.run(run())
    eventually(lambda: description_of(owner, task["id"]) == expected, timeout=10)
    # One event from REST, one from the document; the REST text was never written back as a change.
    changes = description_events(owner, workspace_id, task["id"])
    assert [e["data"]["task"]["description"] for e in changes] == ["New text from REST", expected]


def test_a_rest_edit_of_a_closed_document_is_what_the_next_client_sees(node: RunningServer, api: Api) -> None:
    owner, _, task = scene(api, "First")
    url = doc_url(node.ws_url, task["id"], owner.token)

    async def open_and_read() -> str:
        async with YDocClient(url) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            return client.value()

    assert asyncio.run(open_and_read()) == "First"
    assert owner.patch(f"/tasks/{task['id']}", json={"description": "Second"}).status_code == 200
    assert asyncio.run(open_and_read()) == "Second"


def test_a_viewer_reads_the_document_but_its_edits_change_nothing(node: RunningServer, api: Api) -> None:
    owner, workspace_id, task = scene(api, "Read me")
    viewer = api.register("Viewer")
    owner.add_member(workspace_id, viewer, role="viewer")

    async def run() -> tuple[str, str, str]:
        async with (
            YDocClient(doc_url(node.ws_url, task["id"], viewer.token)) as watching,
            YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as editing,
        ):
            await asyncio.wait_for(asyncio.gather(watching.synced.wait(), editing.synced.wait()), 10)
            watching.insert(0, "Vandalised ")
            editing.insert(7, " carefully")
            await watching.wait_for(lambda: "carefully" in watching.value())
            await editing.wait_for(lambda: editing.value() == "Read me carefully")
            # A latecomer sees what the server holds: the owner's edit only.
            async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as latecomer:
                await asyncio.wait_for(latecomer.synced.wait(), 10)
                return watching.value(), editing.value(), latecomer.value()

    watched, edited, fresh = asyncio.run(run())
    assert watched.startswith("Vandalised ")  # only in the viewer's own copy
    assert edited == fresh == "Read me carefully"
    eventually(lambda: description_of(owner, task["id"]) == "Read me carefully", timeout=10)


def refusal(url: str) -> int:
    async def attempt() -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, open_timeout=10):
                pass
        return refused.value.response.status_code

    return asyncio.run(attempt())


def test_the_upgrade_is_refused_for_bad_tokens_unknown_tasks_and_non_members(
    node: RunningServer, api: Api
) -> None:
    owner, _, task = scene(api)
    stranger = api.register("Stranger")
    base = node.ws_url.rsplit("/ws", 1)[0]
    assert refusal(f"{base}/tasks/{task['id']}/doc") == 401
    assert refusal(doc_url(node.ws_url, task["id"], "not-a-token")) == 401
    assert refusal(doc_url(node.ws_url, "no-such-task", owner.token)) == 404
    assert refusal(doc_url(node.ws_url, task["id"], stranger.token)) == 404


def test_a_member_removed_while_connected_is_closed_with_4403(node: RunningServer, api: Api) -> None:
    owner, workspace_id, task = scene(api, "Team text")
    member = api.register("Member")
    owner.add_member(workspace_id, member)

    async def run() -> tuple[int | None, str]:
        async with (
            YDocClient(doc_url(node.ws_url, task["id"], member.token)) as leaving,
            YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as staying,
        ):
            await asyncio.wait_for(asyncio.gather(leaving.synced.wait(), staying.synced.wait()), 10)
            removed = await asyncio.to_thread(owner.delete, f"/workspaces/{workspace_id}/members/{member.id}")
            assert removed.status_code == 204
            code = await leaving.closed()
            staying.insert(0, "Still here: ")
            await asyncio.sleep(0.2)
            return code, leaving.value()

    code, last_seen = asyncio.run(run())
    assert code == 4403
    assert "Still here" not in last_seen
    assert refusal(doc_url(node.ws_url, task["id"], member.token)) == 404


def test_deleting_the_task_closes_its_document_with_4404(node: RunningServer, api: Api) -> None:
    owner, _, task = scene(api)

    async def run() -> int | None:
        async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            client.insert(0, "Soon gone ")
            await asyncio.sleep(0.1)
            deleted = await asyncio.to_thread(owner.delete, f"/tasks/{task['id']}")
            assert deleted.status_code == 204
            return await client.closed()

    assert asyncio.run(run()) == 4404


def test_deleting_the_workspace_closes_its_documents_with_4404(node: RunningServer, api: Api) -> None:
    owner, workspace_id, task = scene(api)

    async def run() -> int | None:
        async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            deleted = await asyncio.to_thread(owner.delete, f"/workspaces/{workspace_id}")
            assert deleted.status_code == 204
            return await client.closed()

    assert asyncio.run(run()) == 4404


def test_awareness_reaches_the_others_and_leaves_with_its_connection(node: RunningServer, api: Api) -> None:
    owner, _, task = scene(api)
    url = doc_url(node.ws_url, task["id"], owner.token)

    async def run() -> None:
        async with YDocClient(url) as watcher:
            await asyncio.wait_for(watcher.synced.wait(), 10)
            async with YDocClient(url) as visitor:
                await visitor.send_awareness({"name": "Visitor", "cursor": 3})
                await watcher.wait_for(lambda: {"name": "Visitor", "cursor": 3} in watcher.others.values())
                # A client connecting later is told the states already there.
                async with YDocClient(url) as latecomer:
                    await latecomer.wait_for(
                        lambda: {"name": "Visitor", "cursor": 3} in latecomer.others.values()
                    )
            await watcher.wait_for(
                lambda: not any(s.get("name") == "Visitor" for s in watcher.others.values())
            )

    asyncio.run(run())


def test_frames_that_are_not_y_websocket_messages_close_the_connection(node: RunningServer, api: Api) -> None:
    owner, _, task = scene(api, "Intact")
    url = doc_url(node.ws_url, task["id"], owner.token)

    async def close_code(frame: bytes | str) -> int | None:
        async with YDocClient(url) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            await client.send_raw(frame)
            return await client.closed()

    assert asyncio.run(close_code("a text frame")) == 1003
    assert asyncio.run(close_code(b"\x00\x02\xff\xff\xff")) == 1002  # a length past the end
    assert asyncio.run(close_code(b"\x00\x02\x03abc")) == 1002  # not a Yjs update
    assert asyncio.run(close_code(b"\x07")) == 1002  # no such message type

    async def still_intact() -> str:
        async with YDocClient(url) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            return client.value()

    assert asyncio.run(still_intact()) == "Intact"


def test_an_update_past_the_document_size_limit_is_refused_with_1009(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    small = node_factory(doc_max_bytes=2_000)
    owner, _, task = scene(api_factory(small), "Small")
    url = doc_url(small.ws_url, task["id"], owner.token)

    async def run() -> tuple[int | None, str]:
        async with YDocClient(url) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            client.insert(5, "x" * 5_000)
            code = await client.closed()
        async with YDocClient(url) as fresh:
            await asyncio.wait_for(fresh.synced.wait(), 10)
            return code, fresh.value()

    code, value = asyncio.run(run())
    assert code == 1009
    assert value == "Small"


def test_a_connection_whose_token_expires_is_closed_with_4401(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    short = node_factory(jwt_ttl_seconds=2)
    owner, _, task = scene(api_factory(short))

    async def run() -> int | None:
        async with YDocClient(doc_url(short.ws_url, task["id"], owner.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            return await client.closed(within=10)

    assert asyncio.run(run()) == 4401


def test_a_viewer_made_member_edits_from_then_on(node: RunningServer, api: Api) -> None:
    owner, workspace_id, task = scene(api, "Promoted")
    reader = api.register("Reader")
    owner.add_member(workspace_id, reader, role="viewer")

    async def run() -> str:
        url = doc_url(node.ws_url, task["id"], reader.token)
        async with (
            YDocClient(url) as client,
            YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as owning,
        ):
            await asyncio.wait_for(asyncio.gather(client.synced.wait(), owning.synced.wait()), 10)
            changed = await asyncio.to_thread(
                owner.patch, f"/workspaces/{workspace_id}/members/{reader.id}", json={"role": "member"}
            )
            assert changed.status_code == 200, changed.text
            # The role change reaches the document through the workspace's event; until then an
            # edit would still be ignored, so edit until the owner sees one.
            async with asyncio.timeout(10):
                while "!" not in owning.value():
                    client.insert(len(client.value()), "!")
                    await asyncio.sleep(0.2)
            return owning.value()

    assert asyncio.run(run()).startswith("Promoted!")


def test_an_origin_outside_the_allowed_list_is_refused_with_403(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    guarded = node_factory(ws_allowed_origins="https://board.example")
    owner, _, task = scene(api_factory(guarded))
    url = doc_url(guarded.ws_url, task["id"], owner.token)

    async def status(origin: str) -> int:
        try:
            async with connect(url, open_timeout=10, origin=origin):  # type: ignore[arg-type]
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(status("https://elsewhere.example")) == 403
    assert asyncio.run(status("https://board.example")) == 101


def test_a_client_sending_past_the_rate_limit_is_slowed_and_loses_nothing(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    slow = node_factory(doc_rate_limit=40, doc_rate_limit_burst=5)
    owner, _, task = scene(api_factory(slow), "")
    url = doc_url(slow.ws_url, task["id"], owner.token)

    async def run() -> str:
        async with YDocClient(url) as typist, YDocClient(url) as reader:
            await asyncio.wait_for(asyncio.gather(typist.synced.wait(), reader.synced.wait()), 10)
            for number in range(30):  # 30 updates at once: six times the burst
                typist.insert(len(typist.value()), chr(ord("a") + number % 26))
            await reader.wait_for(lambda: len(reader.value()) == 30)
            return reader.value()

    assert asyncio.run(run()) == "abcdefghijklmnopqrstuvwxyzabcd"


def test_one_document_connection_too_many_for_a_user_is_closed_with_1013(
    node_factory: Callable[..., RunningServer], api_factory: Callable[[RunningServer], Api]
) -> None:
    tight = node_factory(doc_max_connections_per_user=1)
    owner, _, task = scene(api_factory(tight))
    url = doc_url(tight.ws_url, task["id"], owner.token)

    async def run() -> tuple[int | None, str]:
        async with YDocClient(url) as first:
            await asyncio.wait_for(first.synced.wait(), 10)
            async with YDocClient(url) as second:
                code = await second.closed()
            first.insert(0, "Still ")
            return code, first.value()

    code, value = asyncio.run(run())
    assert code == 1013
    assert value == "Still Hello"
