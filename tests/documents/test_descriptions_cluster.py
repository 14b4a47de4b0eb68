"""One task description edited through two nodes (one PostgreSQL, one Redis) converges everywhere.

With the stock `yjs` and `y-websocket` packages from npm (tests/yjs, run by Node) and with pycrdt
clients. The nodes' log poll is off (as in test_cluster.py): what crosses between them here
crosses through Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realtime.clients import eventually
from tests.realtime.test_cluster import cluster
from tests.support.api import Api, ApiUser
from tests.support.databases import IN_CI
from tests.support.servers import RunningServer
from tests.support.ydoc import YDocClient, doc_url

__all__ = ["cluster"]

YJS_DIR = Path(__file__).resolve().parent.parent / "yjs"


def description_on(node: RunningServer, user: ApiUser, task_id: str) -> Any:
    with httpx.Client(base_url=node.api, headers={"Authorization": f"Bearer {user.token}"}) as http:
        response = http.get(f"/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()["description"]


def two_editors(api: Api, seed: str) -> tuple[ApiUser, ApiUser, str]:
    owner = api.register("Owner")
    member = api.register("Member")
    workspace_id = owner.create_workspace()["id"]
    owner.add_member(workspace_id, member)
    task = owner.create_task(workspace_id, "Shared", description=seed)
    return owner, member, task["id"]


def node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if IN_CI:
            pytest.fail("node and npm are needed for the Yjs interoperability test")
        pytest.skip("node or npm is not installed")
    return node, npm


def ensure_node_modules(npm: str) -> None:
    if (YJS_DIR / "node_modules" / "y-websocket").is_dir():
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=YJS_DIR, check=True, timeout=300)


def test_stock_yjs_clients_on_two_nodes_converge_and_the_task_follows(
    cluster: Callable[[int], list[RunningServer]], api_factory: Callable[[RunningServer], Api]
) -> None:
    node, npm = node_tools()
    ensure_node_modules(npm)
    a, b = cluster(2)
    owner, member, task_id = two_editors(api_factory(a), "XXXXXXXX seed")
    url_a, url_b = (n.ws_url.rsplit("/ws", 1)[0] + "/tasks" for n in (a, b))
    run = subprocess.run(
        [node, "converge.mjs", url_a, url_b, task_id, owner.token, member.token],
        cwd=YJS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    assert run.returncode == 0, f"stdout: {run.stdout}\nstderr: {run.stderr}"
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["a"] == result["b"]
    eventually(lambda: description_on(a, owner, task_id) == result["a"], timeout=10)
    assert description_on(b, member, task_id) == result["a"]


def test_pycrdt_clients_on_two_nodes_converge_through_a_disconnection(
    cluster: Callable[[int], list[RunningServer]], api_factory: Callable[[RunningServer], Api]
) -> None:
    a, b = cluster(2)
    owner, member, task_id = two_editors(api_factory(a), "abcdefghij")

    async def run() -> str:
        left = await YDocClient(doc_url(a.ws_url, task_id, owner.token)).connect()
        right = await YDocClient(doc_url(b.ws_url, task_id, member.token)).connect()
        await asyncio.wait_for(asyncio.gather(left.synced.wait(), right.synced.wait()), 10)
        # Awareness crosses too, and a disconnection takes it away on the other node.
        await right.send_awareness({"name": "Right"})
        await left.wait_for(lambda: {"name": "Right"} in left.others.values())
        for round_ in range(5):
            left.insert(0, f"L{round_} ")
            right.insert(len(right.value()), f" R{round_}")
            right.delete(
                right.value().index("abcde"[round_]), 1
            )  # the seed's first five letters, one a round
        await right.disconnect()
        await left.wait_for(lambda: {"name": "Right"} not in left.others.values())
        left.insert(0, "while-away ")
        right.insert(0, "offline ")
        await right.connect()
        await asyncio.wait_for(right.synced.wait(), 10)
        for client in (left, right):
            await client.wait_for(lambda c=client: "while-away" in c.value() and "offline" in c.value())
            await client.wait_for(lambda c=client: "R4" in c.value() and "L4" in c.value())
        await left.disconnect()
        await right.disconnect()
        assert left.value() == right.value()
        return left.value()

    text = asyncio.run(run())
    assert "fghij" in text and "efghij" not in text
    for marker in ("L0", "L4", "R0", "R4", "while-away", "offline"):
        assert marker in text
    eventually(lambda: description_on(a, owner, task_id) == text, timeout=10)
    assert description_on(b, member, task_id) == text


def test_a_member_removed_on_one_node_is_cut_off_on_the_other_with_4403(
    cluster: Callable[[int], list[RunningServer]], api_factory: Callable[[RunningServer], Api]
) -> None:
    a, b = cluster(2)
    owner, member, task_id = two_editors(api_factory(a), "Team")
    workspace_id = description_on_workspace(a, owner, task_id)

    async def run() -> int | None:
        async with YDocClient(doc_url(b.ws_url, task_id, member.token)) as client:
            await asyncio.wait_for(client.synced.wait(), 10)
            with httpx.Client(base_url=a.api, headers={"Authorization": f"Bearer {owner.token}"}) as http:
                removed = await asyncio.to_thread(
                    http.delete, f"/workspaces/{workspace_id}/members/{member.id}"
                )
            assert removed.status_code == 204
            return await client.closed()

    assert asyncio.run(run()) == 4403


def description_on_workspace(node: RunningServer, user: ApiUser, task_id: str) -> str:
    with httpx.Client(base_url=node.api, headers={"Authorization": f"Bearer {user.token}"}) as http:
        return str(http.get(f"/tasks/{task_id}").json()["workspaceId"])
