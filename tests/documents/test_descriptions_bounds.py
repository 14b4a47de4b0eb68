"""A document's bounds hold for updates that wait for ones they depend on (Yjs keeps them pending),
and a document stored past its bounds (before they were enforced) neither locks its task out
nor stops its description from following.

The updates are built with pycrdt and sent out of order over the y-websocket protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from pycrdt import Doc, Text, create_update_message
from websockets.exceptions import ConnectionClosed

from taskroom.documents.shared import fold
from tests.documents.test_descriptions import description_of, scene
from tests.realtime.clients import eventually
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer
from tests.support.ydoc import YDocClient, doc_url

TOO_LARGE = 1009
DOCUMENT_TOO_LARGE = 4413


def pieces(state: bytes, frames: int, chars: int) -> list[bytes]:
    """A one-character piece, then `frames` pieces of `chars` characters each built on it (each
    depends on the one before), made by a client holding `state`; in the order they were made."""
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    text = doc.get("description", type=Text)
    made: list[bytes] = []
    doc.observe(lambda event: made.append(event.update))
    text.insert(len(str(text)), "k")
    for _ in range(frames):
        text.insert(len(str(text)), "x" * chars)
    return made


def stored_text(node: RunningServer, task_id: str) -> str:
    """The document as the database holds it (snapshot and rows folded), whatever is open."""
    store = node.app_state.node.documents.store
    stored = node.call(lambda: store.changes(task_id, 0, ()))
    assert stored is not None
    doc: Doc[Any] = Doc()
    doc.apply_update(fold(stored.parts))
    return str(doc.get("description", type=Text))


def pending_bytes(node: RunningServer, task_id: str) -> int:
    documents = node.app_state.node.documents

    async def read() -> int:
        return int(documents._documents[task_id].shared.pending_bytes())

    return node.call(read)


def send_out_of_order(
    node: RunningServer, user: ApiUser, task_id: str, frames: int, chars: int
) -> int | None:
    """The big pieces first, the small one they all depend on last; the close code."""

    async def run() -> int | None:
        async with YDocClient(doc_url(node.ws_url, task_id, user.token)) as sender:
            await asyncio.wait_for(sender.synced.wait(), 10)
            made = pieces(sender.doc.get_update(), frames, chars)
            for update in [*made[1:], made[0]]:
                with contextlib.suppress(ConnectionClosed):  # closed on the way
                    await sender.send_raw(create_update_message(update))
            return await sender.closed()

    return asyncio.run(run())


def read_document(node: RunningServer, user: ApiUser, task_id: str) -> str:
    async def read() -> str:
        async with YDocClient(doc_url(node.ws_url, task_id, user.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            return client.value()

    return asyncio.run(read())


def test_updates_sent_before_the_piece_they_depend_on_cannot_pass_the_text_limit(
    node: RunningServer, api: Api
) -> None:
    owner, _, task = scene(api, "Hello")
    # 12 frames of 6,000 characters wait (72 KB, under the pending bound); the last, small piece would
    # bring in all of them: 72,001 characters against a limit of 20,000.
    assert send_out_of_order(node, owner, task["id"], frames=12, chars=6_000) == TOO_LARGE
    assert read_document(node, owner, task["id"]) == "Hello"
    assert stored_text(node, task["id"]) == "Hello"
    assert description_of(owner, task["id"]) == "Hello"


def test_what_waits_for_a_missing_piece_is_bounded_and_the_rest_is_refused(
    node: RunningServer, api: Api
) -> None:
    owner, _, task = scene(api, "Hello")

    async def run() -> tuple[int | None, int]:
        # A second connection keeps the document open, so what waits in it can be read.
        async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as watcher:
            await asyncio.wait_for(watcher.synced.wait(), 10)
            code = await asyncio.to_thread(send_out_of_order, node, owner, task["id"], 40, 6_000)
            waiting = await asyncio.to_thread(pending_bytes, node, task["id"])
            assert watcher.value() == "Hello"
            return code, waiting

    code, waiting = asyncio.run(run())
    assert code == TOO_LARGE  # long before the 40th frame: 240 KB would have waited
    assert 0 < waiting <= node.settings.doc_pending_max_bytes
    assert stored_text(node, task["id"]) == "Hello"


def test_updates_of_an_honest_client_that_arrive_out_of_order_all_arrive(
    node: RunningServer, api: Api
) -> None:
    owner, _, task = scene(api, "Hi")

    async def run() -> str:
        async with (
            YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as sender,
            YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as reader,
        ):
            await asyncio.wait_for(asyncio.gather(sender.synced.wait(), reader.synced.wait()), 10)
            made = pieces(sender.doc.get_update(), frames=3, chars=5)
            for update in reversed(made):
                await sender.send_raw(create_update_message(update))
            await reader.wait_for(lambda: reader.value() == "Hik" + "x" * 15)
            return reader.value()

    assert asyncio.run(run()) == "Hik" + "x" * 15
    eventually(lambda: description_of(owner, task["id"]) == "Hik" + "x" * 15, timeout=10)
    eventually(lambda: pending_bytes_or_closed(node, task["id"]) == 0, timeout=10)


def pending_bytes_or_closed(node: RunningServer, task_id: str) -> int:
    documents = node.app_state.node.documents

    async def read() -> int:
        document = documents._documents.get(task_id)
        return 0 if document is None else int(document.shared.pending_bytes())

    return node.call(read)


def test_an_update_that_waits_too_long_is_dropped_and_its_client_asked_again(
    node_factory: Callable[..., RunningServer],
) -> None:
    node = node_factory(doc_pending_max_age=300, doc_resync_interval=200)
    api = Api(node.api)
    owner, _, task = scene(api, "Hi")

    async def run() -> str:
        async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            first, second = pieces(client.doc.get_update(), frames=1, chars=3)
            # The client holds both pieces but the second alone reached the server (a lost frame).
            client._applying = True
            client.doc.apply_update(first)
            client.doc.apply_update(second)
            client._applying = False
            await client.send_raw(create_update_message(second))
            # Dropped after 300 ms; the server then asks for the client's state (a sync step 1),
            # and the answer brings both pieces.
            async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as reader:
                await reader.wait_for(lambda: reader.value() == "Hikxxx")
                return reader.value()

    assert asyncio.run(run()) == "Hikxxx"
    eventually(lambda: description_of(owner, task["id"]) == "Hikxxx", timeout=10)
    api.close()


def store_past_the_limits(node: RunningServer, user: ApiUser, task_id: str, chars: int) -> str:
    """Append to the task's stored document a row of `chars` characters, as a node without the
    bounds would have; the text the document then holds."""

    async def read() -> bytes:
        async with YDocClient(doc_url(node.ws_url, task_id, user.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            return client.doc.get_update()

    doc: Doc[Any] = Doc()
    doc.apply_update(asyncio.run(read()))
    eventually(lambda: not is_open(node, task_id), timeout=10)
    text = doc.get("description", type=Text)
    before = doc.get_state()
    text.insert(len(str(text)), "y" * chars)
    store = node.app_state.node.documents.store
    node.call(lambda: store.append(task_id, [doc.get_update(before)]))
    return str(text)


def is_open(node: RunningServer, task_id: str) -> bool:
    documents = node.app_state.node.documents

    async def read() -> bool:
        return task_id in documents._documents

    return node.call(read)


def test_a_stored_document_too_large_to_send_is_refused_with_4413_and_a_patch_resets_it(
    node: RunningServer, api: Api
) -> None:
    owner, _, task = scene(api, "Seed")
    # 2.2 MB: past DOC_MAX_BYTES and past what one connection may have queued (its step 2 alone).
    store_past_the_limits(node, owner, task["id"], 2_200_000)

    async def join() -> int | None:
        client = await YDocClient(doc_url(node.ws_url, task["id"], owner.token)).connect()
        return await client.closed()

    # The same clear refusal every time, never 1013 ("too far behind"), which clients retry.
    assert asyncio.run(join()) == DOCUMENT_TOO_LARGE
    assert asyncio.run(join()) == DOCUMENT_TOO_LARGE
    patched = owner.patch(f"/tasks/{task['id']}", json={"description": "Fresh start"})
    assert patched.status_code == 200, patched.text
    assert read_document(node, owner, task["id"]) == "Fresh start"
    eventually(lambda: not is_open(node, task["id"]), timeout=10)
    # Compacted: the deleted text is collected, the stored state is small again.
    store = node.app_state.node.documents.store
    stored = node.call(lambda: store.changes(task["id"], 0, ()))
    assert stored is not None and len(fold(stored.parts)) < 1000
    assert stored_text(node, task["id"]) == "Fresh start"


def test_a_stored_document_past_the_text_limit_opens_may_shrink_not_grow_and_its_description_follows(
    node: RunningServer, api: Api
) -> None:
    owner, _, task = scene(api, "Seed")
    text = store_past_the_limits(node, owner, task["id"], 24_996)  # 25,000 characters
    assert len(text) == 25_000

    async def edit() -> tuple[str, int | None]:
        async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as client:
            await client.wait_for(lambda: len(client.value()) == 25_000)
            client.delete(0, 4)  # shorter, though still past the limit: accepted
            async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as reader:
                await reader.wait_for(lambda: len(reader.value()) == 24_996)
                grower = await YDocClient(doc_url(node.ws_url, task["id"], owner.token)).connect()
                await grower.wait_for(lambda: len(grower.value()) == 24_996)
                grower.insert(0, "more")  # longer: refused
                code = await grower.closed()
                return reader.value(), code

    value, code = asyncio.run(edit())
    assert value == "y" * 24_996 and code == TOO_LARGE
    # The description follows as far as a description may hold: its first 20,000 characters.
    eventually(lambda: description_of(owner, task["id"]) == "y" * 20_000, timeout=10)
    eventually(lambda: not is_open(node, task["id"]), timeout=10)  # not read halfway through compaction
    assert stored_text(node, task["id"]) == "y" * 24_996
