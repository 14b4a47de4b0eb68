"""A back-end on the Python client with an API key (PROTOCOL §5.3): the key is a plain string
token for both `TaskroomAPI` and `TodoWebSocketClient`, and a deleted key stops the socket
client as `unauthorized` instead of retrying forever."""

from __future__ import annotations

import asyncio

import httpx

from taskroom.client import ConnectionState, Event, StateChange, TaskroomAPI, TodoWebSocketClient
from tests.client.support import new_account, quick_backoff, until
from tests.support.servers import RunningServer


def test_a_back_end_acts_and_listens_with_its_key_until_the_key_is_deleted(
    sqlite_node: RunningServer,
) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(sqlite_node.base_url) as admin:
            await new_account(admin)
            workspace = (await admin.create_workspace("Board"))["id"]
            # The client has no helper for keys (an admin's task, not a back-end's): the raw route.
            keys = httpx.AsyncClient(
                base_url=sqlite_node.api, headers={"Authorization": f"Bearer {admin.token}"}
            )
            answer = await keys.post(
                f"/workspaces/{workspace}/api-keys", json={"name": "Sync", "role": "member"}
            )
            assert answer.status_code == 201, answer.text
            created = answer.json()
            key = created["key"]
            async with TaskroomAPI(sqlite_node.base_url, token=key) as backend:
                assert [w["id"] for w in await backend.list_workspaces()] == [workspace]
                seen: list[Event] = []
                states: list[StateChange] = []
                client = TodoWebSocketClient(sqlite_node.ws_url, key, [workspace], backoff=quick_backoff())
                client.on_task_created(seen.append)
                client.on_state_change(states.append)
                async with client:
                    task = await backend.create_task(workspace, "From the back-end")
                    await until(lambda: len(seen) == 1, "the key's socket hears its own task")
                    assert seen[0].data["task"]["id"] == task["id"]
                    members = await admin.list_members(workspace)
                    service = next(m for m in members if m["kind"] == "service")
                    assert seen[0].data["actorId"] == service["userId"]
                    deleted = await keys.delete(f"/workspaces/{workspace}/api-keys/{created['id']}")
                    assert deleted.status_code == 204
                    await until(lambda: client.state is ConnectionState.UNAUTHORIZED, "the client stops")
                    assert states[-1].close_code == 4401
            await keys.aclose()

    asyncio.run(scenario())
