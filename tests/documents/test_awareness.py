"""Awareness on one node: each client id has one owner, states are bounded, a welcome always fits.

Frames are built by hand (`awareness_frame`, pycrdt's encoder) where a stock client would never
send them: many client ids, another connection's id, numbers past 2^53 - 1, bad colours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pycrdt import create_sync_message
from websockets.exceptions import ConnectionClosed

from tests.documents.test_descriptions import scene
from tests.support.api import Api
from tests.support.servers import RunningServer, start_server
from tests.support.ydoc import YDocClient, awareness_frame, doc_url

SAFE = 2**53 - 1


def state(**fields: Any) -> str:
    return json.dumps(fields)


async def joined(url: str) -> YDocClient:
    client = await YDocClient(url).connect()
    await asyncio.wait_for(client.synced.wait(), 10)
    return client


async def round_trip(client: YDocClient) -> None:
    """Until the server has handled what the client sent so far: it answers a sync step 1 after."""
    client.synced.clear()
    await client.send_raw(create_sync_message(client.doc))
    await asyncio.wait_for(client.synced.wait(), 10)


async def marker(sender: YDocClient, watchers: list[YDocClient], name: str) -> None:
    """The sender announces its own state `{"name": name}` and every watcher sees it: whatever the
    sender sent before has been handled by then (one connection's frames are handled in order)."""
    await sender.send_awareness({"name": name})
    for watcher in watchers:
        await watcher.wait_for(lambda w=watcher: {"name": name} in w.others.values())


def test_a_connection_cannot_overwrite_or_remove_another_connections_state(
    node: RunningServer, api: Api
) -> None:
    owner, workspace_id, task = scene(api)
    intruder = api.register("Intruder")
    owner.add_member(workspace_id, intruder)

    async def run() -> tuple[Any, Any]:
        victim = await joined(doc_url(node.ws_url, task["id"], owner.token))
        watcher = await joined(doc_url(node.ws_url, task["id"], owner.token))
        other = await joined(doc_url(node.ws_url, task["id"], intruder.token))
        await victim.send_awareness({"user": {"name": "Victim"}})
        victim_id = victim.doc.client_id
        await watcher.wait_for(lambda: victim_id in watcher.others)
        await other.wait_for(lambda: victim_id in other.others)
        clock = victim.awareness.meta[victim_id]["clock"]
        await other.send_raw(awareness_frame([(victim_id, clock + 5, state(user={"name": "Impostor"}))]))
        await other.send_raw(awareness_frame([(victim_id, clock + 6, "null")]))
        await marker(other, [watcher], "Intruder")
        # A newcomer is told the owner's state too, not the intruder's version of it.
        latecomer = await joined(doc_url(node.ws_url, task["id"], owner.token))
        await latecomer.wait_for(lambda: {victim_id, other.doc.client_id} <= set(latecomer.others))
        seen = watcher.others.get(victim_id), latecomer.others.get(victim_id)
        for client in (victim, watcher, other, latecomer):
            await client.disconnect()
        return seen

    assert asyncio.run(run()) == ({"user": {"name": "Victim"}}, {"user": {"name": "Victim"}})


def test_a_connection_owns_a_few_client_ids_and_one_viewer_cannot_lock_joiners_out(
    node: RunningServer, api: Api
) -> None:
    owner, workspace_id, task = scene(api, "Open")
    viewer = api.register("Viewer")
    owner.add_member(workspace_id, viewer, role="viewer")
    viewer_url = doc_url(node.ws_url, task["id"], viewer.token)

    async def run() -> tuple[int | None, int | None, str, dict[int, Any]]:
        # Four ids on one connection are fine (y-websocket uses one): three here, its own later.
        few = await joined(viewer_url)
        await few.send_raw(awareness_frame([(7000 + i, 1, state(name=f"few{i}")) for i in range(3)]))
        watcher = await joined(doc_url(node.ws_url, task["id"], owner.token))
        await watcher.wait_for(lambda: all(7000 + i in watcher.others for i in range(3)))
        # The probe's flood: 12,000 ids in frames under 64 KiB. The first frame closes it 1008.
        flood = await joined(viewer_url)
        padding = "x" * 80
        with contextlib.suppress(ConnectionClosed):  # closed at the first one
            for start in range(0, 12_000, 500):
                entries = [(100_000 + i, 1, state(user={"name": padding})) for i in range(start, start + 500)]
                await flood.send_raw(awareness_frame(entries))
        flood_code = await flood.closed()
        # Whoever joins now is welcomed, not closed; and sees none of the flood.
        joiner = await joined(doc_url(node.ws_url, task["id"], owner.token))
        await marker(few, [joiner], "still here")
        joiner_code = joiner.close_code
        others = dict(joiner.others)
        text = joiner.value()
        assert all(7000 + i in others for i in range(3))
        for client in (few, watcher, joiner):
            await client.disconnect()
        return flood_code, joiner_code, text, others

    flood_code, joiner_code, text, others = asyncio.run(run())
    assert flood_code == 1008
    assert joiner_code is None and text == "Open"
    assert not any(100_000 <= client < 112_000 for client in others)


@pytest.fixture(scope="module")
def tight_buffer(database_factory: Callable[[str], str]) -> Iterator[RunningServer]:
    """A node whose connections queue at most 64 KiB: a document's awareness gets 16 KiB."""
    node = start_server(database_factory("sqlite"), ws_max_buffered_bytes=65_536)
    yield node
    node.stop()


def test_the_awareness_of_a_document_is_bounded_so_that_every_welcome_fits(
    tight_buffer: RunningServer, api_factory: Callable[[RunningServer], Api]
) -> None:
    owner, _, task = scene(api_factory(tight_buffer), "Crowded")
    url = doc_url(tight_buffer.ws_url, task["id"], owner.token)
    big = "y" * 3_900  # under the 4,096 bytes of one state

    async def run() -> tuple[list[int | None], int | None, int]:
        # Six connections of four 3.9 KB states each: 94 KB, past the joiner's 64 KiB today.
        senders = [await joined(url) for _ in range(6)]
        for number, sender in enumerate(senders):
            ids = [(9000 + 10 * number + i, 1, state(user={"name": big})) for i in range(4)]
            await sender.send_raw(awareness_frame(ids))
        for sender in senders:
            await round_trip(sender)
        # The welcome's awareness arrives before the answer to the joiner's step 1 (its sync).
        joiner = await joined(url)
        codes = [sender.close_code for sender in senders]
        code = joiner.close_code
        big_states = sum(1 for s in joiner.others.values() if isinstance(s, dict) and "user" in s)
        for client in (*senders, joiner):
            await client.disconnect()
        return codes, code, big_states

    codes, joiner_code, big_states = asyncio.run(run())
    assert codes == [None] * 6 and joiner_code is None
    assert 0 < big_states <= 16_384 // 3_900


def test_ids_and_clocks_past_2_53_and_bad_states_close_the_connection_and_change_nothing(
    node: RunningServer, api: Api
) -> None:
    owner, _, task = scene(api)
    url = doc_url(node.ws_url, task["id"], owner.token)

    async def close_code(frame: bytes) -> int | None:
        client = await joined(url)
        await client.send_raw(frame)
        return await client.closed()

    async def run() -> tuple[list[int | None], dict[int, Any]]:
        codes = [
            await close_code(awareness_frame([(SAFE + 1, 1, state(name="big id"))])),
            await close_code(awareness_frame([(4242, SAFE + 1, state(name="big clock"))])),
            await close_code(awareness_frame([(4243, 1, '{"name": NaN}')])),  # JSON.parse refuses it
            await close_code(awareness_frame([(4244, 1, "{not json")])),
            await close_code(awareness_frame([(4245, 1, state(name="z" * 5_000))])),
        ]
        # Within the bounds: taken.
        edge = await joined(url)
        await edge.send_raw(awareness_frame([(SAFE, SAFE, state(name="edge"))]))
        watcher = await joined(url)
        await watcher.wait_for(lambda: watcher.others.get(SAFE) == {"name": "edge"})
        others = dict(watcher.others)
        await edge.disconnect()
        await watcher.disconnect()
        return codes, others

    codes, others = asyncio.run(run())
    assert codes == [1002, 1002, 1002, 1002, 1009]
    assert not {4242, 4243, 4244, 4245} & set(others)


def test_a_colour_that_is_not_rrggbb_is_dropped_from_the_state(node: RunningServer, api: Api) -> None:
    owner, _, task = scene(api)
    url = doc_url(node.ws_url, task["id"], owner.token)

    async def run() -> tuple[Any, Any]:
        beacon = await joined(url)
        honest = await joined(url)
        watcher = await joined(url)
        await beacon.send_awareness(
            {"user": {"name": "Beacon", "color": "url(http://127.0.0.1:9/b)"}, "cursor": None}
        )
        await honest.send_awareness({"user": {"name": "Honest", "color": "#1a2B3c"}})
        await watcher.wait_for(
            lambda: beacon.doc.client_id in watcher.others and honest.doc.client_id in watcher.others
        )
        seen = watcher.others[beacon.doc.client_id], watcher.others[honest.doc.client_id]
        for client in (beacon, honest, watcher):
            await client.disconnect()
        return seen

    assert asyncio.run(run()) == (
        {"user": {"name": "Beacon"}, "cursor": None},
        {"user": {"name": "Honest", "color": "#1a2B3c"}},
    )
