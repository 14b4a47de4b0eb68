"""The log is the source of truth: events the broker lost, or handed over out of order, still arrive in order."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from taskroom.events import LogEvent
from taskroom.schemas import MemberIn
from taskroom.wire import MessageType
from tests.realtime.clients import joined, logged, seqs
from tests.support.api import Api, ApiUser
from tests.support.observe import events_of
from tests.support.servers import RunningServer

# Long enough that only the path under test (broker + gap fill) can deliver within a test.
NO_LOG_POLL = 600_000


def commit_without_publishing(
    node: RunningServer, workspace_id: str, actor: ApiUser, count: int
) -> list[LogEvent]:
    """Append events to the log in one committed transaction, as a node that died before publishing would."""

    async def append() -> list[LogEvent]:
        services = node.app_state.services
        async with services.db.transaction() as session:
            return [
                await services.log.append(
                    session,
                    workspace_id,
                    MessageType.TASK_DELETED,
                    {"workspaceId": workspace_id, "taskId": str(uuid.uuid4()), "actorId": actor.id},
                )
                for _ in range(count)
            ]

    return node.call(append)


def publish(node: RunningServer, *events: LogEvent) -> None:
    node.call(lambda: node.app_state.node.hub.publisher.publish_committed(list(events)))


def test_an_event_committed_but_never_published_still_reaches_live_clients(
    node_factory: Callable[..., RunningServer],
) -> None:
    private = node_factory(ws_log_poll_interval=200)
    api = Api(private.api)
    try:
        alice, bob = api.register("Alice"), api.register("Bob")
        workspace_id = alice.create_workspace()["id"]
        alice.add_member(workspace_id, bob)  # seq 1
        with joined(private, alice, expect=1) as first, joined(private, bob, expect=1) as second:
            (lost,) = commit_without_publishing(private, workspace_id, alice, 1)
            assert lost.seq == 2
            # Nothing follows it on the broker, so only the node's own look at the log can find it.
            for client in (first, second):
                assert client.recv_events(1, timeout=5.0) == events_of(alice, workspace_id, since=1)
            alice.create_task(workspace_id, "Published as usual")  # seq 3
            for client in (first, second):
                assert seqs(client.recv_events(1)) == [3]
                assert seqs(logged(client.received)) == [2, 3]
                assert logged(client.quiet()) == []
    finally:
        api.close()


def test_events_published_out_of_order_are_delivered_in_order(
    node_factory: Callable[..., RunningServer],
) -> None:
    private = node_factory(ws_log_poll_interval=NO_LOG_POLL)
    api = Api(private.api)
    try:
        alice = api.register("Alice")
        workspace_id = alice.create_workspace()["id"]
        with joined(private, alice, expect=1) as ws:
            first, second, third = commit_without_publishing(private, workspace_id, alice, 3)
            publish(private, third)
            publish(private, second)
            publish(private, first)
            publish(private, second)  # a duplicate is dropped
            received = ws.recv_events(3)
            assert seqs(received) == [1, 2, 3]
            assert received == events_of(alice, workspace_id)
            assert [e["eventId"] for e in received] == [first.event_id, second.event_id, third.event_id]
            assert logged(ws.quiet()) == []
    finally:
        api.close()


def test_a_gap_the_broker_never_fills_is_read_from_the_log(
    node_factory: Callable[..., RunningServer],
) -> None:
    private = node_factory(ws_log_poll_interval=NO_LOG_POLL)
    api = Api(private.api)
    try:
        alice = api.register("Alice")
        workspace_id = alice.create_workspace()["id"]
        with joined(private, alice, expect=1) as ws:
            events = commit_without_publishing(private, workspace_id, alice, 3)
            publish(private, events[2])  # seqs 1 and 2 are never published
            received = ws.recv_events(3)
            assert received == events_of(alice, workspace_id)
            alice.create_task(workspace_id, "Next")
            assert seqs(ws.recv_events(1)) == [4]
            assert logged(ws.quiet()) == []
    finally:
        api.close()


def test_a_member_removed_and_added_back_in_one_delivery_keeps_receiving(
    node_factory: Callable[..., RunningServer],
) -> None:
    """Both membership events reach the room together (the log, not the broker, delivers them):
    the connection leaves and comes back at their places in the order, and stays in the room."""
    private = node_factory(ws_log_poll_interval=NO_LOG_POLL)
    api = Api(private.api)
    try:
        alice, bob = api.register("Alice"), api.register("Bob")
        workspace_id = alice.create_workspace()["id"]
        alice.add_member(workspace_id, bob)  # seq 1
        with joined(private, bob, expect=1) as ws:

            async def remove_and_add_back_unpublished() -> None:
                services = private.app_state.services
                hub = private.app_state.node.hub

                async def lost(events: object) -> None:
                    return None

                hub.publisher.publish_committed = lost  # as if the broker dropped both
                try:
                    await services.workspaces.remove_member(alice.id, workspace_id, bob.id)  # seq 2
                    await services.workspaces.add_member(
                        alice.id, workspace_id, MemberIn(email=bob.email, role="member")
                    )  # seq 3
                finally:
                    del hub.publisher.publish_committed
                await hub.safety_net.catch_up_with_log()

            private.call(remove_and_add_back_unpublished)
            alice.create_task(workspace_id, "After the round trip")  # seq 4
            events = ws.recv_events(3)
            assert [(e["seq"], e["type"]) for e in events] == [
                (2, "WORKSPACE_MEMBER_REMOVED"),
                (3, "WORKSPACE_MEMBER_ADDED"),
                (4, "TASK_CREATED"),
            ]
            assert logged(ws.quiet()) == []
    finally:
        api.close()
