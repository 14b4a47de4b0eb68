"""The join path's races, driven against fake reads: who ends up in a room, and who never does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from taskroom.events import LogEvent
from taskroom.metrics import NodeMetrics
from taskroom.realtime.announcer import PresenceAnnouncer
from taskroom.realtime.background import BackgroundTasks
from taskroom.realtime.broker import MemoryBroker
from taskroom.realtime.codec import JoinFrom, UserNotice
from taskroom.realtime.joins import Joins
from taskroom.realtime.presence import MemoryPresence
from taskroom.realtime.registry import ConnectionRegistry
from taskroom.realtime.replay import Replayer
from taskroom.realtime.routing import Router
from taskroom.settings import Settings
from taskroom.wire import MessageType, encode_server_frame
from tests.support.rooms import ManualFlusher, Peer

WS = "w1"


class FakeReads:
    """The feeds' reads: a log and memberships in memory, with hooks to act while a read waits."""

    def __init__(self) -> None:
        self.log: list[LogEvent] = []
        self.members: dict[str, set[str]] = {}
        self.before_latest: Any = None  # awaited inside latest_seq (a room being positioned)
        self.before_memberships: Any = None
        self.fail_latest: Exception | None = None
        self.membership_reads = 0

    async def latest_seq(self, workspace_id: str) -> int | None:
        if self.before_latest is not None:
            await self.before_latest()
        if self.fail_latest is not None:
            raise self.fail_latest
        return max((e.seq for e in self.log if e.workspace_id == workspace_id), default=0)

    async def latest_seqs(self, workspace_ids: list[str]) -> dict[str, int]:
        return {w: await self.latest_seq(w) or 0 for w in workspace_ids}

    async def memberships(self, user_id: str) -> set[str] | None:
        self.membership_reads += 1
        if self.before_memberships is not None:
            await self.before_memberships()
        return set(self.members.get(user_id, set()))

    async def replay(self, workspace_id: str, after: int, upto: int, limit: int) -> list[LogEvent]:
        return [e for e in self.log if e.workspace_id == workspace_id and after < e.seq <= upto][:limit]

    async def read_range(self, workspace_id: str, after: int, upto: int) -> list[LogEvent]:
        return await self.replay(workspace_id, after, upto, 10_000)

    def commit(self, type: MessageType = MessageType.TASK_CREATED, subject: str | None = None) -> LogEvent:
        seq = len(self.log) + 1
        data: dict[str, Any] = {"workspaceId": WS, **({"userId": subject} if subject else {})}
        text = encode_server_frame(type, data, seq=seq, event_id=f"e{seq}")
        event = LogEvent(WS, seq, f"e{seq}", type, text, subject)
        self.log.append(event)
        if type == MessageType.WORKSPACE_MEMBER_REMOVED and subject:
            self.members[subject].discard(WS)
        if type == MessageType.WORKSPACE_MEMBER_ADDED and subject:
            self.members.setdefault(subject, set()).add(WS)
        return event


class Node:
    """Routing and joins of one node over fake reads, with real connections on recording sockets."""

    def __init__(self) -> None:
        settings = Settings(ws_enable_presence=False)
        metrics = NodeMetrics()
        self.reads = FakeReads()
        self.flusher = ManualFlusher()
        self.registry = ConnectionRegistry(settings, metrics)
        self.router = Router(settings, self.reads, self.registry, metrics)  # type: ignore[arg-type]
        broker = MemoryBroker()
        announcer = PresenceAnnouncer(settings, MemoryPresence(), _NoPublish(), metrics, self.router)
        self.background = BackgroundTasks()
        replayer = Replayer(self.reads, metrics)  # type: ignore[arg-type]
        self.joins = Joins(
            self.router, broker, self.reads, self.registry, announcer, replayer, self.background
        )
        self.router.handle_membership_with(self.joins)

    def peer(self, user_id: str, *, member: bool = True) -> Peer:
        peer = Peer(self.flusher, user_id)
        self.registry.add(peer.connection)
        self.registry.bind_user(peer.connection, user_id)
        if member:
            self.reads.members.setdefault(user_id, set()).add(WS)
        return peer

    def publish(self, event: LogEvent) -> None:
        """The event reaches this node's routing, as a local publish does."""
        self.router.on_event(event, 0.0)

    async def join(self, peer: Peer, checked_at: int | None, resume: int | None = None) -> dict[str, int]:
        result = await self.joins.join(
            peer.connection, [WS], {} if resume is None else {WS: resume}, checked_at=checked_at
        )
        await result.finish()
        return result.joined

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)


class _NoPublish:
    async def publish_ephemeral(self, *args: object) -> None:
        return None


def run(scenario: Any) -> None:
    asyncio.run(scenario())


def test_a_removal_committed_before_the_membership_read_keeps_the_connection_out() -> None:
    async def scenario() -> None:
        node = Node()
        bob = node.peer("bob")
        mark = node.joins.start_mark()
        node.reads.commit(MessageType.WORKSPACE_MEMBER_REMOVED, "bob")  # before the room exists
        # The caller's own read (made before the removal) said "member"; the room starts after
        # the mark, so the join reads again and sees the removal.
        assert await node.join(bob, checked_at=mark) == {}
        assert WS not in bob.connection.rooms
        assert node.reads.membership_reads == 1

    run(scenario)


def test_a_removal_committed_after_the_membership_read_reaches_the_room_in_order() -> None:
    async def scenario() -> None:
        node = Node()
        alice, bob = node.peer("alice"), node.peer("bob")
        await node.join(alice, checked_at=None)  # the room is live before bob's read
        mark = node.joins.start_mark()
        assert await node.join(bob, checked_at=mark) == {WS: 0}
        assert node.reads.membership_reads == 1  # alice's only: the room started before bob's mark
        node.publish(node.reads.commit(MessageType.WORKSPACE_MEMBER_REMOVED, "bob"))
        await node.settle()
        assert WS not in bob.connection.rooms
        assert bob.seqs() == [1]  # the removal itself, then nothing

    run(scenario)


def test_a_room_started_after_the_mark_makes_the_join_read_memberships_again() -> None:
    async def scenario() -> None:
        node = Node()
        bob = node.peer("bob")
        mark = node.joins.start_mark()
        assert await node.join(bob, checked_at=mark) == {WS: 0}
        assert node.reads.membership_reads == 1
        assert node.router.rooms[WS].positioned_at > mark

    run(scenario)


def test_a_room_that_fails_to_start_is_not_left_behind_and_its_waiters_get_the_error() -> None:
    async def scenario() -> None:
        node = Node()
        alice, bob = node.peer("alice"), node.peer("bob")
        gate = asyncio.Event()

        async def wait_then_fail() -> None:
            await gate.wait()

        node.reads.before_latest = wait_then_fail
        node.reads.fail_latest = OSError("database away")
        first = asyncio.create_task(node.join(alice, checked_at=None))
        second = asyncio.create_task(node.join(bob, checked_at=None))
        await node.settle()
        gate.set()
        for task in (first, second):
            with pytest.raises(OSError):
                await task
        assert node.router.rooms == {}
        assert alice.connection.rooms == bob.connection.rooms == set()
        node.reads.before_latest = node.reads.fail_latest = None
        assert await node.join(alice, checked_at=None) == {WS: 0}  # the next join tries afresh

    run(scenario)


def test_a_connection_leaving_mid_join_leaves_no_ghost() -> None:
    async def scenario() -> None:
        node = Node()
        bob = node.peer("bob")

        async def leave() -> None:
            node.registry.unbind_user(bob.connection)  # what unregister does first

        node.reads.before_memberships = leave
        assert await node.join(bob, checked_at=None) == {}
        assert bob.connection.rooms == set()
        assert node.router.rooms == {}  # nothing holds the room

    run(scenario)


def test_two_joins_racing_for_one_new_room_start_it_once() -> None:
    async def scenario() -> None:
        node = Node()
        alice, bob = node.peer("alice"), node.peer("bob")
        node.reads.commit()
        gate = asyncio.Event()

        async def hold() -> None:
            await gate.wait()

        node.reads.before_latest = hold
        first = asyncio.create_task(node.join(alice, checked_at=None))
        second = asyncio.create_task(node.join(bob, checked_at=None))
        await node.settle()
        gate.set()
        assert await first == await second == {WS: 1}
        assert node.joins.start_mark() == 1
        node.publish(node.reads.commit())
        await node.settle()
        assert alice.seqs() == bob.seqs() == [2]

    run(scenario)


def test_an_added_member_joins_from_just_before_the_addition() -> None:
    async def scenario() -> None:
        node = Node()
        alice, carol = node.peer("alice"), node.peer("carol", member=False)
        await node.join(alice, checked_at=None)
        added = node.reads.commit(MessageType.WORKSPACE_MEMBER_ADDED, "carol")
        node.router.on_user_notice(UserNotice("carol", join=JoinFrom(WS, added.seq - 1)))
        node.publish(added)
        await node.settle()
        assert WS in carol.connection.rooms
        assert carol.seqs() == [1]  # the addition once, from the log or the room
        node.publish(node.reads.commit())
        await node.settle()
        assert carol.seqs() == [1, 2]

    run(scenario)


def test_a_created_workspace_is_joined_from_its_start() -> None:
    async def scenario() -> None:
        node = Node()
        alice = node.peer("alice")
        node.reads.commit()  # the workspace's first event, committed with its creation
        created = encode_server_frame(MessageType.WORKSPACE_CREATED, {"workspaceId": WS}).encode()
        node.router.on_user_notice(
            UserNotice("alice", created, MessageType.WORKSPACE_CREATED, JoinFrom(WS, 0))
        )
        await node.settle()
        frames = alice.received()
        assert frames[0]["type"] == MessageType.WORKSPACE_CREATED
        assert [f["seq"] for f in frames if "seq" in f] == [1]
        assert WS in alice.connection.rooms

    run(scenario)
