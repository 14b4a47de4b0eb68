"""Three nodes on one PostgreSQL deliver each event once per hook, not once per node."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.api import Api
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis
from tests.support.servers import RunningServer, start_server
from tests.webhooks.conftest import FAST_WEBHOOKS, create_hook
from tests.webhooks.receiver import receiver

NO_POLL = 600_000


@pytest.fixture
def three_nodes(database_factory: Callable[[str], str]) -> Iterator[list[RunningServer]]:
    require_redis()
    database_url = database_factory("postgres")
    prefix = fresh_prefix()
    # No poll to speak of: what moves deliveries here is the wake-up each commit gives, on the node
    # that wrote it and, through PostgreSQL's commit notices, on the others.
    settings = {**FAST_WEBHOOKS, "webhook_poll_interval": NO_POLL}
    nodes = [
        start_server(database_url, redis_url=REDIS_URL, redis_prefix=prefix, **settings) for _ in range(3)
    ]
    yield nodes
    for node in nodes:
        node.stop()


def test_every_event_goes_out_exactly_once_in_seq_order(
    three_nodes: list[RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(three_nodes[0]).register("Owner")
    workspaces = [owner.create_workspace(f"Board {n}")["id"] for n in range(2)]
    with receiver() as target:
        hooks = {create_hook(owner, ws, target.url)["id"]: ws for ws in workspaces}
        writes = 0
        for number in range(30):  # every node writes in turn, to both workspaces
            node = three_nodes[number % 3]
            with httpx.Client(base_url=node.api, headers={"Authorization": f"Bearer {owner.token}"}) as http:
                response = http.post(
                    f"/workspaces/{workspaces[number % 2]}/tasks", json={"title": f"T{number}"}
                )
                assert response.status_code == 201
                writes += 1
        target.wait_for(writes)
        deliveries = target.deliveries()
    assert len(hooks) == 2
    assert len(deliveries) == writes  # nothing twice
    for workspace_id in workspaces:
        seqs = [d.event["seq"] for d in deliveries if d.event["data"]["workspaceId"] == workspace_id]
        assert seqs == list(range(1, 16))
    assert len({d.headers["webhook-id"] for d in deliveries}) == writes
