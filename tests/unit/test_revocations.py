"""The revocation index: sockets by the session or API key they were admitted with."""

from __future__ import annotations

from taskroom.edge.identity import Identity
from taskroom.realtime.codec import Revoked, dispatch, encode_message, origin_of
from taskroom.realtime.connection import Connection
from taskroom.realtime.revocations import RECENT_SECONDS, RevocationIndex
from tests.support.rooms import ManualFlusher, RecordingLink


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def socket(name: str) -> tuple[Connection, list[str]]:
    closed: list[str] = []
    return Connection(RecordingLink(), name, 1000, ManualFlusher()), closed


def test_revoking_a_session_closes_its_sockets_only() -> None:
    index = RevocationIndex()
    (a1, a1_closed), (a2, a2_closed), (b, b_closed) = socket("a1"), socket("a2"), socket("b")
    index.track(a1, Identity("u", 0.0, session_id="A"), a1_closed.append)
    index.track(a2, Identity("u", 0.0, session_id="A"), a2_closed.append)
    index.track(b, Identity("u", 0.0, session_id="B"), b_closed.append)
    assert index.revoke(Revoked(session_ids=("A",))) == 2
    assert (a1_closed, a2_closed, b_closed) == (["session ended"], ["session ended"], [])
    assert a1.identity == Identity("u", 0.0, session_id="A")
    assert len(index) == 1
    assert index.revoke(Revoked(session_ids=("A",))) == 0  # closed once, then forgotten


def test_revoking_a_key_closes_the_sockets_it_admitted() -> None:
    index = RevocationIndex()
    (conn, closed) = socket("k")
    index.track(conn, Identity("service", 0.0, key_id="K"), closed.append)
    assert index.revoke(Revoked(key_ids=("K",))) == 1
    assert closed == ["api key revoked"]


def test_a_socket_that_re_authenticates_moves_to_its_new_session() -> None:
    index = RevocationIndex()
    conn, closed = socket("c")
    index.track(conn, Identity("u", 0.0, session_id="A"), closed.append)
    index.track(conn, Identity("u", 0.0, session_id="B"), closed.append)
    assert index.revoke(Revoked(session_ids=("A",))) == 0
    assert index.revoke(Revoked(session_ids=("B",))) == 1


def test_a_forgotten_socket_is_not_closed_and_leaves_nothing_behind() -> None:
    index = RevocationIndex()
    conn, closed = socket("c")
    index.track(conn, Identity("u", 0.0, session_id="A"), closed.append)
    index.forget(conn)
    index.forget(conn)
    assert len(index) == 0
    assert index.revoke(Revoked(session_ids=("A",))) == 0
    assert closed == []


def test_a_socket_admitted_just_after_its_session_was_revoked_is_closed_at_once() -> None:
    clock = Clock()
    index = RevocationIndex(clock)
    index.revoke(Revoked(session_ids=("A",)))
    late, late_closed = socket("late")
    assert index.track(late, Identity("u", 0.0, session_id="A"), late_closed.append) is False
    assert late_closed == ["session ended"]
    clock.now += RECENT_SECONDS + 1
    index.revoke(Revoked(session_ids=("other",)))  # prunes what is past the horizon
    much_later, closed = socket("much-later")
    assert index.track(much_later, Identity("u", 0.0, session_id="A"), closed.append) is True
    assert closed == []


def test_a_token_without_session_or_key_is_not_tracked() -> None:
    index = RevocationIndex()
    conn, closed = socket("c")
    assert index.track(conn, Identity("u", 0.0), closed.append) is True
    assert len(index) == 0


class Heard:
    def __init__(self) -> None:
        self.revoked: list[Revoked] = []

    def on_event(self, *_: object) -> None:
        raise AssertionError("not an event")

    def on_ephemeral(self, *_: object) -> None:
        raise AssertionError("not an ephemeral frame")

    def on_user_notice(self, *_: object) -> None:
        raise AssertionError("not a user notice")

    def on_revoked(self, revoked: Revoked) -> None:
        self.revoked.append(revoked)


def test_a_revocation_crosses_the_broker_as_ids_only() -> None:
    payload = encode_message(Revoked(("s1", "s2"), ("k1",)), "node-1")
    origin, header, frame = origin_of(payload)
    heard = Heard()
    dispatch(header, frame, heard)
    assert origin == "node-1"
    assert heard.revoked == [Revoked(("s1", "s2"), ("k1",))]


def test_a_revocation_header_with_other_than_ids_drops_them() -> None:
    heard = Heard()
    dispatch({"k": "revoked", "ss": ["s1", 7, None], "ks": "k1"}, b"", heard)
    assert heard.revoked == [Revoked(("s1",), ())]
