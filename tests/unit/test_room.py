"""The room's transitions, driven without sockets: who receives which event, and when."""

from __future__ import annotations

import asyncio

import pytest

from taskroom.realtime.connection import Connection
from taskroom.realtime.frames import text_frame
from taskroom.realtime.room import Room, Step
from taskroom.wire import MessageType
from tests.support.rooms import ManualFlusher, Peer, event

WS = "w1"
ADDED = MessageType.WORKSPACE_MEMBER_ADDED
REMOVED = MessageType.WORKSPACE_MEMBER_REMOVED


class World:
    """One room at seq 0 and the users' connections on this node."""

    def __init__(self, start: int = 0) -> None:
        self.flusher = ManualFlusher()
        self.peers: list[Peer] = []
        self.room = Room(WS, self)
        self.room.sequencer.start(start)

    def connections_of(self, user_id: str) -> list[Connection]:
        return [p.connection for p in self.peers if p.connection.user_id == user_id]

    def peer(self, user_id: str, limit: int = 1 << 20) -> Peer:
        peer = Peer(self.flusher, user_id, limit)
        self.peers.append(peer)
        return peer

    def commit(self, seq: int, type: MessageType = MessageType.TASK_CREATED, subject: str | None = None):  # type: ignore[no-untyped-def]
        """The event arrives in order: the sequencer releases it, the room delivers it."""
        effects = []
        for ready_seq, ready in self.room.sequencer.offer(seq, event(WS, seq, type, subject)):
            effects.append(self.room.deliver(ready_seq, ready))
        return effects


def test_a_live_member_receives_every_event_in_order_and_the_join_reports_the_rooms_seq() -> None:
    world = World(start=4)
    alice = world.peer("alice")
    assert world.room.join(alice.connection, None) == 4
    for seq in (5, 6, 7):
        world.commit(seq)
    assert alice.seqs() == [5, 6, 7]
    assert alice.connection.rooms == {WS}
    assert world.room.is_member(alice.connection)


def test_a_second_join_of_the_same_connection_is_refused() -> None:
    world = World()
    alice = world.peer("alice")
    assert world.room.join(alice.connection, None) == 0
    assert world.room.join(alice.connection, None) is None
    assert world.room.join(alice.connection, 0) is None
    world.commit(1)
    assert alice.seqs() == [1]


def test_a_join_that_raced_a_removal_already_delivered_is_refused() -> None:
    world = World()
    bob = world.peer("bob")
    world.commit(1, REMOVED, subject="bob")  # bob was not here yet on this node
    assert world.room.join(bob.connection, None) is None
    world.commit(2)
    assert bob.received() == []
    assert bob.connection.rooms == set()


def test_a_removal_delivered_after_the_join_takes_the_member_out_after_the_removal_itself() -> None:
    world = World()
    alice, bob = world.peer("alice"), world.peer("bob")
    world.room.join(alice.connection, None)
    world.room.join(bob.connection, None)
    (effects,) = world.commit(1, REMOVED, subject="bob")
    world.commit(2)
    assert [f["type"] for f in bob.received()] == [REMOVED]
    assert effects.left == [bob.connection]
    assert bob.connection.rooms == set()
    assert not world.room.is_member(bob.connection)
    assert alice.seqs() == [1, 2]


def test_a_member_added_back_may_join_again() -> None:
    world = World()
    bob = world.peer("bob")
    world.commit(1, REMOVED, subject="bob")
    world.commit(2, ADDED, subject="bob")  # bob's connection joins live with the addition
    assert bob.seqs() == [2]
    assert world.room.is_member(bob.connection)
    world.commit(3)
    assert bob.seqs() == [2, 3]


def test_an_added_member_joins_at_the_addition_and_is_to_be_welcomed() -> None:
    world = World()
    alice = world.peer("alice")
    carol_phone, carol_laptop = world.peer("carol"), world.peer("carol")
    world.room.join(alice.connection, None)
    (effects,) = world.commit(1, ADDED, subject="carol")
    world.commit(2)
    assert effects.joined == [carol_phone.connection, carol_laptop.connection]
    assert carol_phone.seqs() == carol_laptop.seqs() == alice.seqs() == [1, 2]


def test_a_deleted_workspace_empties_the_room() -> None:
    world = World()
    alice, bob = world.peer("alice"), world.peer("bob")
    world.room.join(alice.connection, None)
    world.room.join(bob.connection, None)
    (effects,) = world.commit(1, MessageType.WORKSPACE_DELETED)
    world.commit(2)
    assert set(effects.left) == {alice.connection, bob.connection}
    assert alice.seqs() == bob.seqs() == [1]
    assert world.room.live == {}


def test_ephemeral_frames_skip_their_sender_and_those_catching_up() -> None:
    world = World()
    alice, bob, carol = world.peer("alice"), world.peer("bob"), world.peer("carol")
    world.room.join(alice.connection, None)
    world.room.join(bob.connection, None)
    world.room.join(carol.connection, 0)  # catching up
    sent = world.room.broadcast(text_frame(b'{"type":"USER_TYPING"}'), skip=alice.connection.id)
    assert sent == 1
    assert [f["type"] for f in bob.received()] == ["USER_TYPING"]
    assert alice.received() == carol.received() == []


# --- resume while the room is live --------------------------------------------------------------


def catch_up(world: World, peer: Peer, replayed_to: int) -> Step:
    """What the replayer does once the log is sent: release the backlog until a final step."""
    while True:
        step, frame = world.room.catch_up_step(peer.connection, replayed_to)
        if step is Step.SEND:
            assert frame is not None
            peer.connection.send(frame)
            continue
        return step


def test_a_resume_while_live_gets_the_held_events_after_its_replay_without_duplicates() -> None:
    world = World(start=3)
    alice = world.peer("alice")
    target = world.room.join(alice.connection, 1)  # resumes from seq 1; the room is at 3
    assert target == 3
    world.commit(4)  # arrives while the log 2..3 is being replayed
    world.commit(5)
    assert alice.received() == []  # held, not sent ahead of the replay
    # The replay sends 2..3 (and, being slow, also saw 4 in the log already).
    for seq in (2, 3, 4):
        alice.connection.send(text_frame(event(WS, seq).envelope.encode()))
    assert catch_up(world, alice, replayed_to=4) is Step.LIVE
    world.commit(6)
    assert alice.seqs() == [2, 3, 4, 5, 6]


def test_a_resume_ahead_of_the_room_waits_for_the_room_to_get_there() -> None:
    world = World(start=3)
    alice = world.peer("alice")
    world.room.join(alice.connection, 3)
    # A snapshot said seq 5, but this node's room has not received 4 and 5 yet.
    assert catch_up(world, alice, replayed_to=5) is Step.WAIT
    world.commit(4)
    world.commit(5)
    assert catch_up(world, alice, replayed_to=5) is Step.LIVE
    world.commit(6)
    assert alice.seqs() == [6]


def test_a_removal_while_catching_up_ends_the_backlog_with_the_removal() -> None:
    world = World()
    bob = world.peer("bob")
    world.room.join(bob.connection, 0)
    world.commit(1)
    world.commit(2, REMOVED, subject="bob")
    assert not world.room.is_member(bob.connection)  # may no longer send to the workspace
    world.commit(3)  # not bob's to see
    assert catch_up(world, bob, replayed_to=0) is Step.LEFT
    assert bob.seqs() == [1, 2]
    assert bob.connection.rooms == set()
    assert not world.room.has(bob.connection)


def test_a_member_removed_and_added_back_while_catching_up_goes_on_from_the_addition() -> None:
    world = World()
    bob = world.peer("bob")
    world.room.join(bob.connection, 0)
    world.commit(1)
    world.commit(2, REMOVED, subject="bob")
    world.commit(3)  # while bob is out
    (effects,) = world.commit(4, ADDED, subject="bob")
    world.commit(5)
    assert effects.joined == [bob.connection]
    assert world.room.is_member(bob.connection)
    assert catch_up(world, bob, replayed_to=0) is Step.LIVE
    world.commit(6)
    assert bob.seqs() == [1, 2, 4, 5, 6]
    assert bob.connection.rooms == {WS}


def test_leaving_while_catching_up_stops_the_catch_up() -> None:
    world = World()
    alice = world.peer("alice")
    world.room.join(alice.connection, 0)
    world.commit(1)
    assert world.room.leave(alice.connection)
    assert world.room.catch_up_step(alice.connection, 0) == (Step.STOPPED, None)
    assert world.room.empty


def test_a_backlog_past_the_connections_bound_drops_it_and_closes_1013() -> None:
    world = World()
    alice = world.peer("alice", limit=200)
    world.room.join(alice.connection, 0)
    for seq in range(1, 10):
        world.commit(seq)
    assert alice.link.closed_with == 1013
    assert not world.room.catching_up[alice.connection.id].events
    assert alice.received() == []


def test_a_waiting_catch_up_is_woken_by_the_next_event() -> None:
    async def scenario() -> None:
        world = World()
        alice = world.peer("alice")
        world.room.join(alice.connection, 0)
        assert catch_up(world, alice, replayed_to=1) is Step.WAIT
        backlog = world.room.catching_up[alice.connection.id]
        waiter = asyncio.ensure_future(backlog.arrived.wait())
        await asyncio.sleep(0)
        assert not waiter.done()
        world.commit(1)
        await asyncio.wait_for(waiter, 1)

    asyncio.run(scenario())


@pytest.mark.parametrize("reserved", [0, 1])
def test_a_room_is_empty_only_with_no_connection_and_no_join_in_progress(reserved: int) -> None:
    world = World()
    world.room.reserved = reserved
    assert world.room.empty is (reserved == 0)
