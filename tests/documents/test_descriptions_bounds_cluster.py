"""The bounds of a document hold across two nodes (PostgreSQL and Redis): updates sent out of
order to one node never reach, nor pass the limits on, the other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from pycrdt import create_update_message
from websockets.exceptions import ConnectionClosed

from tests.documents.test_descriptions_bounds import TOO_LARGE, pieces, stored_text
from tests.documents.test_descriptions_cluster import description_on, two_editors
from tests.realtime.clients import eventually
from tests.realtime.test_cluster import cluster
from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.support.ydoc import YDocClient, doc_url

__all__ = ["cluster"]


def test_out_of_order_updates_on_one_node_pass_no_limit_on_either_and_honest_ones_cross(
    cluster: Callable[[int], list[RunningServer]], api_factory: Callable[[RunningServer], Api]
) -> None:
    a, b = cluster(2)
    owner, member, task_id = two_editors(api_factory(a), "Hello")

    async def run() -> tuple[int | None, str, str]:
        async with (
            YDocClient(doc_url(a.ws_url, task_id, owner.token)) as sender,
            YDocClient(doc_url(b.ws_url, task_id, member.token)) as watcher,
        ):
            await asyncio.wait_for(asyncio.gather(sender.synced.wait(), watcher.synced.wait()), 10)
            # Honest: three pieces sent last first wait on node a, then all cross to node b.
            honest = pieces(sender.doc.get_update(), frames=2, chars=3)
            for update in reversed(honest):
                await sender.send_raw(create_update_message(update))
            sender._applying = True  # its own document holds them too, as a real client's would
            for update in honest:
                sender.doc.apply_update(update)
            sender._applying = False
            await watcher.wait_for(lambda: watcher.value() == "Hellokxxxxxx")
            # Not honest: 12 frames of 6,000 characters first, then the piece that would bring them in.
            attacker = await YDocClient(doc_url(a.ws_url, task_id, owner.token)).connect()
            await asyncio.wait_for(attacker.synced.wait(), 10)
            made = pieces(attacker.doc.get_update(), frames=12, chars=6_000)
            for update in [*made[1:], made[0]]:
                with contextlib.suppress(ConnectionClosed):
                    await attacker.send_raw(create_update_message(update))
            code = await attacker.closed()
            # The watcher on node b still reads and edits the document as it was.
            watcher.insert(0, "B:")
            await sender.wait_for(lambda: sender.value() == "B:Hellokxxxxxx")
            return code, sender.value(), watcher.value()

    code, on_a, on_b = asyncio.run(run())
    assert code == TOO_LARGE
    assert on_a == on_b == "B:Hellokxxxxxx"
    for node in (a, b):
        eventually(lambda n=node: stored_text(n, task_id) == "B:Hellokxxxxxx", timeout=10)
    eventually(lambda: description_on(a, owner, task_id) == "B:Hellokxxxxxx", timeout=10)
    assert description_on(b, member, task_id) == "B:Hellokxxxxxx"
