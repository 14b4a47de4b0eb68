"""Updates that wait for ones they depend on, without sockets: how they are found, bounded and stored."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text

from taskroom.documents.integration import integrated
from taskroom.documents.shared import DocumentTooLarge, SharedDocument, fold, seed


def chain(base: bytes, *edits: str) -> list[bytes]:
    """Updates of one client holding `base`, each built on the one before: an insertion at the end
    for a string, a deletion of the first n characters for "-n"."""
    doc: Doc[Any] = Doc()
    doc.apply_update(base)
    text = doc.get("description", type=Text)
    made: list[bytes] = []
    doc.observe(lambda event: made.append(event.update))
    for edit in edits:
        if edit.startswith("-"):
            del text[0 : int(edit[1:])]
        else:
            text.insert(len(str(text)), edit)
    return made


def test_an_update_after_a_gap_or_deleting_what_is_missing_is_not_integrated() -> None:
    base = seed("ab")
    first, second, deletion = chain(base, "c", "d", "-3")
    doc: Doc[Any] = Doc()
    doc.apply_update(base)
    doc.apply_update(second)
    assert not integrated(second, doc.get_state())  # its client's clock has a gap
    doc.apply_update(deletion)
    assert str(doc.get("description", type=Text)) == ""  # "ab" deleted, "c" not there yet
    assert not integrated(deletion, doc.get_state())
    doc.apply_update(first)
    state = doc.get_state()
    assert all(integrated(update, state) for update in (first, second, deletion))
    assert str(doc.get("description", type=Text)) == "d"


def test_what_waits_counts_against_the_limits_and_is_bounded() -> None:
    document = SharedDocument("t", "w", max_chars=1_000, max_bytes=100_000, max_pending_bytes=3_000)
    document.apply(seed("Hi"))
    small, *big = chain(document.doc.get_update(), "k", *["x" * 400] * 10)
    for update in big[:5]:
        assert document.apply_checked(update) is None  # waits
    assert 2_000 < document.pending_bytes() <= 3_000
    # The small piece would bring in 2,000 characters: refused, nothing changed.
    with pytest.raises(DocumentTooLarge):
        document.apply_checked(small)
    assert str(document.text) == "Hi"
    # More waiting than the bound: refused too.
    for update in big[5:]:
        try:
            document.apply_checked(update)
        except DocumentTooLarge:
            break
    else:
        pytest.fail("the pending bound was never reached")
    assert document.pending_bytes() <= 3_000


def test_waiting_updates_past_their_age_are_dropped_and_the_document_still_works() -> None:
    document = SharedDocument("t", "w", max_chars=1_000, max_bytes=100_000, max_pending_age=0.0)
    document.apply(seed("Hi"))
    first, second = chain(document.doc.get_update(), "a", "b")
    document.apply(second)
    assert document.pending_bytes() == 0 and document.dropped_pending
    document.apply_checked(first)
    assert str(document.text) == "Hia"  # the dropped one is not brought in
    assert document.apply_checked(second) is not None  # sent again, it is
    assert str(document.text) == "Hiab"


def test_compaction_keeps_a_stored_update_that_waits_for_one_stored_later() -> None:
    base = seed("ab")
    first, second = chain(base, "c", "d")
    folded = fold([base, second])  # `first` is not stored yet (another node writes it later)
    doc: Doc[Any] = Doc()
    doc.apply_update(folded)
    doc.apply_update(first)
    assert str(doc.get("description", type=Text)) == "abcd"
