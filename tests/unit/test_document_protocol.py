"""The document endpoint's protocol core, without sockets: y-websocket frames and one document's rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pycrdt import Awareness, Doc, Text, create_awareness_message, create_sync_message, create_update_message

from taskroom.documents.protocol import MalformedMessage, MessageType, SyncStep, parse
from taskroom.documents.shared import DocumentTooLarge, SharedDocument, fold, seed


@dataclass(eq=False)
class FakePeer:
    user_id: str = "u1"
    can_edit: bool = True
    awareness_ids: set[int] = field(default_factory=set)
    sent: list[bytes] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    def close(self, code: int, reason: str) -> None:
        raise AssertionError("not closed in these tests")


def client_edit(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("description", type=Text).insert(0, text)
    return doc.get_update()


def test_frames_of_pycrdt_clients_parse_as_what_they_are() -> None:
    doc: Doc[Any] = Doc()
    step1 = parse(create_sync_message(doc))
    assert (step1.type, step1.step, step1.payload) == (MessageType.SYNC, SyncStep.STEP1, doc.get_state())
    update = client_edit("hi")
    parsed = parse(create_update_message(update))
    assert (parsed.type, parsed.step, parsed.payload) == (MessageType.SYNC, SyncStep.UPDATE, update)
    assert parse(create_awareness_message(b"\x00")).type == MessageType.AWARENESS
    assert parse(b"\x03").type == MessageType.QUERY_AWARENESS


@pytest.mark.parametrize(
    "frame",
    [
        b"",  # nothing at all
        b"\x00",  # a sync message without its sub-type
        b"\x00\x05\x00",  # no such sync step
        b"\x00\x02\x09abc",  # a length past the end of the frame
        b"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a varint past 64 bits
        b"\x09",  # no such message type
    ],
)
def test_frames_that_are_not_messages_are_refused(frame: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse(frame)


def test_a_viewer_update_is_ignored_and_an_editor_update_is_what_others_receive() -> None:
    document = SharedDocument("t", "w", max_chars=100, max_bytes=10_000)
    document.apply(seed("Hello"))
    viewer, editor = FakePeer(can_edit=False), FakePeer()
    document.peers.update({viewer, editor})
    ignored = document.receive(viewer, parse(create_update_message(client_edit("x"))))
    assert ignored.update is None and ignored.ignored
    assert str(document.text) == "Hello"
    edit = create_update_message(client_edit("x"))
    accepted = document.receive(editor, parse(edit))
    assert accepted.update is not None
    assert str(document.text) in ("xHello", "Hellox")
    # The same update again changes nothing, so nothing goes anywhere.
    assert document.receive(editor, parse(edit)).update is None


def test_an_update_past_the_limits_is_refused_and_leaves_the_document_as_it_was() -> None:
    document = SharedDocument("t", "w", max_chars=10, max_bytes=10_000)
    document.apply(seed("Short"))
    with pytest.raises(DocumentTooLarge):
        document.apply_checked(client_edit("far too long for ten"))
    assert str(document.text) == "Short"


def test_a_leaving_connection_takes_its_awareness_states_with_it() -> None:
    document = SharedDocument("t", "w", max_chars=100, max_bytes=10_000)
    peer, other = FakePeer(), FakePeer(user_id="u2")
    document.peers.update({peer, other})
    client: Doc[Any] = Doc()
    awareness = Awareness(client)
    awareness.set_local_state({"name": "Ann"})
    document.receive(
        peer, parse(create_awareness_message(awareness.encode_awareness_update([client.client_id])))
    )
    assert peer.awareness_ids == {client.client_id}
    removal = document.forget(peer)
    assert removal is not None
    watcher: Doc[Any] = Doc()
    seen = Awareness(watcher)
    seen.apply_awareness_update(awareness.encode_awareness_update([client.client_id]), "server")
    seen.apply_awareness_update(removal, "server")
    assert client.client_id not in seen.states


def test_compaction_folds_updates_into_one_with_the_same_text() -> None:
    first = seed("abc")
    doc: Doc[Any] = Doc()
    doc.apply_update(first)
    text = doc.get("description", type=Text)
    before = doc.get_state()
    text.insert(3, "def")
    del text[0:1]
    later = doc.get_update(before)
    folded: Doc[Any] = Doc()
    folded.apply_update(fold([first, later]))
    assert str(folded.get("description", type=Text)) == "bcdef"
