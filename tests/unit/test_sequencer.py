"""RoomSequencer: each seq delivered once, in order, whatever order the broker hands them over in."""

from __future__ import annotations

from taskroom.realtime.sequencer import RoomSequencer


def started(at: int = 0, max_held: int = 10_000) -> RoomSequencer[str]:
    sequencer: RoomSequencer[str] = RoomSequencer(max_held)
    assert sequencer.start(at) == []
    return sequencer


def test_in_order_events_go_out_at_once() -> None:
    sequencer = started()
    assert sequencer.offer(1, "a") == [(1, "a")]
    assert sequencer.offer(2, "b") == [(2, "b")]
    assert sequencer.last_seq == 2
    assert sequencer.missing() is None


def test_an_early_event_waits_for_the_missing_one_then_both_go_in_order() -> None:
    sequencer = started()
    assert sequencer.offer(2, "b") == []
    assert sequencer.missing() == (0, 1)
    assert sequencer.offer(1, "a") == [(1, "a"), (2, "b")]
    assert sequencer.missing() is None


def test_missing_names_the_range_before_the_lowest_held_event() -> None:
    sequencer = started(3)
    sequencer.offer(7, "g")
    sequencer.offer(5, "e")
    assert sequencer.missing() == (3, 4)
    assert sequencer.offer(4, "d") == [(4, "d"), (5, "e")]
    assert sequencer.missing() == (5, 6)


def test_duplicates_are_dropped_whether_delivered_or_held() -> None:
    sequencer = started()
    sequencer.offer(1, "a")
    assert sequencer.offer(1, "a again") == []
    assert sequencer.offer(3, "c") == []
    assert sequencer.offer(3, "c again") == []
    assert sequencer.offer(2, "b") == [(2, "b"), (3, "c again")]
    assert sequencer.offer(2, "b again") == []


def test_everything_is_held_until_start_and_what_start_covers_is_dropped() -> None:
    sequencer: RoomSequencer[str] = RoomSequencer()
    assert not sequencer.started
    assert sequencer.offer(4, "d") == []
    assert sequencer.offer(6, "f") == []
    assert sequencer.offer(5, "e") == []
    assert sequencer.missing() is None  # nothing is missing before the position is known
    assert sequencer.start(4) == [(5, "e"), (6, "f")]
    assert sequencer.started
    assert sequencer.last_seq == 6


def test_start_delivers_nothing_when_held_events_leave_a_gap() -> None:
    sequencer: RoomSequencer[str] = RoomSequencer()
    sequencer.offer(9, "i")
    assert sequencer.start(7) == []
    assert sequencer.missing() == (7, 8)


def test_skip_to_gives_up_on_a_lost_range_and_releases_what_follows() -> None:
    sequencer = started()
    sequencer.offer(4, "d")
    sequencer.offer(5, "e")
    assert sequencer.skip_to(3) == [(4, "d"), (5, "e")]
    assert sequencer.last_seq == 5
    assert sequencer.missing() is None


def test_skip_to_never_moves_backwards() -> None:
    sequencer = started(10)
    assert sequencer.skip_to(4) == []
    assert sequencer.last_seq == 10


def test_held_events_are_bounded_but_the_next_in_order_is_always_taken() -> None:
    sequencer = started(max_held=2)
    assert sequencer.offer(3, "c") == []
    assert sequencer.offer(4, "d") == []
    assert sequencer.offer(5, "e") == []  # over the bound: dropped; the log fills it in later
    assert sequencer.offer(1, "a") == [(1, "a")]
    assert sequencer.missing() == (1, 2)
    assert sequencer.offer(2, "b") == [(2, "b"), (3, "c"), (4, "d")]
    assert sequencer.missing() is None
    assert sequencer.offer(5, "e") == [(5, "e")]


def test_a_full_buffer_cannot_stall_filling_the_gap_from_the_log() -> None:
    sequencer = started(max_held=3)
    for seq in (10, 11, 12):
        sequencer.offer(seq, f"e{seq}")
    # What the gap filler does: offer the log rows after..upto one by one.
    after, upto = sequencer.missing() or (0, 0)
    delivered = [seq for s in range(after + 1, upto + 1) for seq, _ in sequencer.offer(s, f"e{s}")]
    assert delivered == list(range(1, 13))


def test_a_shuffled_stream_comes_out_as_one_ordered_run() -> None:
    sequencer = started()
    order = [5, 2, 8, 1, 3, 7, 4, 6, 2, 8, 10, 9]
    delivered = [seq for s in order for seq, _ in sequencer.offer(s, f"e{s}")]
    assert delivered == list(range(1, 11))
