"""What of a shared document's text becomes the task's plain description."""

from __future__ import annotations

import asyncio

from tests.realtime.clients import eventually
from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.support.ydoc import YDocClient, doc_url


def test_a_nul_typed_into_the_document_is_left_out_of_the_description_which_still_follows(
    node: RunningServer, api: Api
) -> None:
    # No description may hold NUL (PostgreSQL text cannot; REST answers 422). A document may get
    # one from a client; the description used to stop following the document from then on.
    owner = api.register("Owner")
    workspace_id = owner.create_workspace()["id"]
    task = owner.create_task(workspace_id, "Write the spec", description="Hello")

    async def edit() -> str:
        async with YDocClient(doc_url(node.ws_url, task["id"], owner.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            client.insert(5, " a\x00b")
            await asyncio.sleep(0.5)
            client.insert(0, "More ")
            return client.value()

    assert asyncio.run(edit()) == "More Hello a\x00b"

    def description() -> str:
        return str(owner.get(f"/tasks/{task['id']}").json()["description"])

    eventually(lambda: description() == "More Hello ab", timeout=10)
