"""A document's awareness, sans I/O: who owns a client id, and when it is free again."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from taskroom.documents.awareness import AwarenessStateTooLarge, decode, entry_size
from taskroom.documents.protocol import MalformedMessage
from taskroom.documents.shared import AWARENESS_TIMEOUT_MS, SharedDocument, TooManyAwarenessClients
from tests.support.ydoc import awareness_frame


class FakePeer:
    def __init__(self, user_id: str = "u") -> None:
        self.user_id = user_id
        self.can_edit = True
        self.awareness_ids: set[int] = set()
        self.sent: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    def close(self, code: int, reason: str) -> None:
        raise AssertionError(f"closed {code} {reason}")


def update(*entries: tuple[int, int, Any]) -> bytes:
    """The bare awareness update (without the message type and length)."""
    frame = awareness_frame([(client, clock, json.dumps(state)) for client, clock, state in entries])
    length_bytes = 1
    while frame[length_bytes] & 0x80:
        length_bytes += 1
    return frame[1 + length_bytes :]


def document(peers: int = 2) -> tuple[SharedDocument, list[FakePeer]]:
    shared = SharedDocument("t", "w", 20_000, 1 << 20)
    made = [FakePeer() for _ in range(peers)]
    shared.peers.update(made)
    return shared, made


def test_an_id_is_its_first_connections_until_it_leaves_then_free() -> None:
    shared, (first, second) = document()
    assert shared.apply_awareness(update((5, 1, {"n": "first"})), first) is not None
    assert shared.apply_awareness(update((5, 2, {"n": "second"}), (5, 3, None)), second) is None
    assert shared.awareness.states[5] == {"n": "first"}
    removal = shared.forget(first)
    assert removal is not None and decode(removal)[0].state is None
    assert 5 not in shared.awareness.meta  # the table keeps no clock of a client nobody owns
    assert shared.apply_awareness(update((5, 1, {"n": "second"})), second) is not None
    assert second.awareness_ids == {5}


def test_a_node_owns_what_it_relayed_until_it_says_it_is_gone_or_it_times_out() -> None:
    shared, (peer,) = document(1)
    shared.apply_awareness(update((7, 1, {"n": "a"}), (8, 1, {"n": "b"})), "node:a")
    assert shared.apply_awareness(update((7, 2, {"n": "mine"})), peer) is None
    assert shared.apply_awareness(update((7, 2, {"n": "b's"})), "node:b") is None
    shared.apply_awareness(update((7, 2, None)), "node:a")  # gone on node a
    assert shared.apply_awareness(update((7, 1, {"n": "mine"})), peer) is not None
    # Node a dies: its other state is not renewed, and after 30 s it is nobody's.
    shared.awareness.meta[8]["lastUpdated"] = time.time() * 1000 - AWARENESS_TIMEOUT_MS - 1
    shared.awareness_states()
    assert 8 not in shared.awareness.states and 8 not in shared.awareness.meta
    assert shared.apply_awareness(update((8, 1, {"n": "b"})), "node:b") is not None


def test_a_connection_owns_four_ids_at_most_and_its_own_removal_keeps_them() -> None:
    shared, (peer, _) = document()
    shared.apply_awareness(update(*((i, 1, {"i": i}) for i in range(4))), peer)
    with pytest.raises(TooManyAwarenessClients):
        shared.apply_awareness(update((4, 1, {"i": 4})), peer)
    shared.apply_awareness(update((0, 2, None)), peer)  # its own removal: the id stays its own
    assert 0 not in shared.awareness.states
    with pytest.raises(TooManyAwarenessClients):
        shared.apply_awareness(update((4, 1, {"i": 4})), peer)
    assert shared.apply_awareness(update((0, 3, {"i": 0})), peer) is not None


def test_the_documents_states_stay_within_its_bound() -> None:
    shared, peers = document(5)
    shared.awareness_limit = 10_000
    for number, peer in enumerate(peers):
        shared.apply_awareness(update(*((10 * number + i, 1, {"p": "x" * 1000}) for i in range(4))), peer)
    assert shared.awareness_bytes() <= 10_000
    assert len(shared.awareness_states() or b"") <= 10_000
    assert len(shared.awareness.states) == 10_000 // entry_size({"p": "x" * 1000})
    # A state that grows past the room left is not taken; the old one stays.
    assert shared.apply_awareness(update((0, 2, {"p": "y" * 4000})), peers[0]) is None
    assert shared.awareness.states[0] == {"p": "x" * 1000}
    shared.forget(peers[0])
    assert shared.apply_awareness(update((40, 1, {"p": "z" * 1000})), peers[4]) is not None


def test_what_is_read_is_checked_and_cleaned() -> None:
    (entry,) = decode(update((1, 1, {"user": {"name": "n", "color": "red"}, "cursor": None})))
    assert entry.state == {"user": {"name": "n"}, "cursor": None}
    (entry,) = decode(update((1, 1, {"user": {"color": "#A0b1C2"}})))
    assert entry.state == {"user": {"color": "#A0b1C2"}}
    for bad in (
        update((2**53, 1, {})),
        update((1, 2**53, {})),
        update((1, 1, {}))[:-1],
        update((1, 1, {})) + b"x",
    ):
        with pytest.raises(MalformedMessage):
            decode(bad)
    with pytest.raises(MalformedMessage):
        decode(b"\x01\x01\x01\x03NaN")
    with pytest.raises(MalformedMessage):
        decode(b"\x01\x01\x01\x05" + b"[" * 5)
    nested = b"[" * 2000 + b"]" * 2000  # within 4,096 bytes, past Python's recursion limit
    with pytest.raises(MalformedMessage):
        decode(b"\x01\x01\x01" + bytes((0x80 | (len(nested) & 0x7F), len(nested) >> 7)) + nested)
    with pytest.raises(MalformedMessage):
        decode(update((1, 1, json.loads("[" * 33 + "]" * 33))))
    assert decode(update((1, 1, json.loads("[" * 32 + "]" * 32))))
    with pytest.raises(AwarenessStateTooLarge):
        decode(update((1, 1, "s" * 5000)))
