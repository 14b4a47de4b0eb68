"""Delivery progress outlives the node, and webhooks never reach inside the network unless allowed."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from taskroom.db.webhook_models import Webhook
from taskroom.services.webhooks.addresses import RefusedAddress, check_destination
from tests.support.api import Api
from tests.support.servers import RunningServer, start_server
from tests.support.waiting import eventually
from tests.webhooks.conftest import FAST_WEBHOOKS, create_hook, hook_state
from tests.webhooks.receiver import receiver


def test_a_restarted_node_resends_only_what_was_not_acknowledged(
    backend: str, database_factory: Callable[[str], str], api_of: Callable[[RunningServer], Api]
) -> None:
    database_url = database_factory(backend)
    first = start_server(database_url, **FAST_WEBHOOKS)
    healthy = True
    try:
        owner = api_of(first).register("Owner")
        workspace_id = owner.create_workspace()["id"]
        with receiver(answer=lambda _n: 200 if healthy else 500) as target:
            hook = create_hook(owner, workspace_id, target.url)
            for title in ("A", "B", "C"):
                owner.create_task(workspace_id, title)
            target.wait_for(3)
            healthy = False
            owner.create_task(workspace_id, "D")
            owner.create_task(workspace_id, "E")
            eventually(
                lambda: hook_state(owner, workspace_id, hook["id"])["failures"],
                lambda failures: failures >= 1,
            )
            first.stop()
            healthy = True
            second = start_server(database_url, **FAST_WEBHOOKS)
            try:
                target.wait_for(5)
                # Each acknowledged event exactly once; only the unacknowledged ones were sent again.
                assert target.seqs() == [1, 2, 3, 4, 5]
                assert {d.event["seq"] for d in target.deliveries() if d.status != 200} <= {4}
            finally:
                second.stop()
    finally:
        first.stop()


@pytest.fixture
def guarded_node(node_factory: Callable[..., RunningServer]) -> RunningServer:
    """A node with the default WEBHOOK_ALLOW_PRIVATE=false."""
    return node_factory()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",  # a name that resolves to loopback
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "http://0.0.0.0/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_internal_addresses_are_refused_by_default(
    guarded_node: RunningServer, api_of: Callable[[RunningServer], Api], url: str
) -> None:
    owner = api_of(guarded_node).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    response = owner.post(f"/workspaces/{workspace_id}/webhooks", json={"url": url})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == "url"
    assert owner.get(f"/workspaces/{workspace_id}/webhooks").json()["items"] == []


def test_a_delivery_checks_the_address_again(
    guarded_node: RunningServer, api_of: Callable[[RunningServer], Api]
) -> None:
    """A hook whose name now resolves inside (stored before, say) is not sent to."""
    owner = api_of(guarded_node).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    with receiver() as target:
        hook_id = str(uuid.uuid4())

        async def insert() -> None:
            now = datetime.now(UTC)
            async with guarded_node.app_state.services.db.transaction() as session:
                session.add(
                    Webhook(
                        id=hook_id,
                        workspace_id=workspace_id,
                        url=target.url.replace("127.0.0.1", "localhost"),
                        events=None,
                        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                        status="active",
                        cursor=0,
                        failures=0,
                        created_at=now,
                        updated_at=now,
                    )
                )

        guarded_node.call(insert)
        owner.create_task(workspace_id, "Not for inside")
        state = eventually(lambda: hook_state(owner, workspace_id, hook_id), lambda s: bool(s["attempts"]))
        assert state["attempts"][0]["error"].startswith("refused:")
        assert state["lastDeliveredSeq"] == 0
        assert target.deliveries() == []


def test_the_check_resolves_names_and_can_be_switched_off() -> None:
    with pytest.raises(RefusedAddress):
        asyncio.run(check_destination("http://localhost/hook", allow_private=False))
    asyncio.run(check_destination("http://localhost/hook", allow_private=True))
    with pytest.raises(RefusedAddress):
        asyncio.run(check_destination("http://user:pw@example.com/", allow_private=True))
    with pytest.raises(RefusedAddress):  # a name that IDNA cannot encode
        asyncio.run(check_destination("http://a..b\u0080/", allow_private=False))


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of the node's, uvicorn's and httpx's loggers, down to DEBUG."""
    names = ("taskroom", "uvicorn.error", "uvicorn.access", "httpx", "httpcore")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.DEBUG)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)


def test_secrets_never_reach_the_log(
    hook_node: Callable[..., RunningServer],
    api_of: Callable[[RunningServer], Api],
    server_log: pytest.LogCaptureFixture,
) -> None:
    owner = api_of(hook_node(webhook_retry_window_seconds=1)).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    with receiver(answer=lambda n: 500 if n < 2 else 200) as target:
        hook = create_hook(owner, workspace_id, target.url)
        given = create_hook(owner, workspace_id, target.url, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        owner.create_task(workspace_id, "Logged about")
        eventually(lambda: len(target.accepted()), lambda n: n >= 2)
    text = "\n".join(record.getMessage() for record in server_log.records)
    assert text  # the node did log (requests, deliveries)
    for secret in (hook["secret"], given["secret"]):
        assert secret not in text
        assert secret.removeprefix("whsec_") not in text
