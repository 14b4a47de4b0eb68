"""A connection's outbound side: frames built once, coalesced per loop turn, bounded."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode

from taskroom.realtime.connection import Connection, Flusher
from taskroom.realtime.frames import text_frame
from tests.support.rooms import ManualFlusher, RecordingLink, parse_frames


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_a_text_frame_is_byte_for_byte_what_websockets_would_send(size: int) -> None:
    payload = b"x" * size
    reference = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == reference


def connection(
    limit: int = 1000, unsent: int = 0
) -> tuple[Connection, RecordingLink, ManualFlusher, list[int]]:
    link, flusher, dropped = RecordingLink(unsent), ManualFlusher(), []
    conn = Connection(link, "c1", limit, flusher, on_slow_consumer=lambda: dropped.append(1))
    return conn, link, flusher, dropped


def test_frames_queued_before_a_flush_go_out_in_one_write_in_order() -> None:
    conn, link, flusher, _ = connection()
    for n in range(3):
        conn.send_text(f'{{"n":{n}}}')
    assert link.writes == []
    flusher.flush()
    assert len(link.writes) == 1
    assert parse_frames(link.writes[0]) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_the_flusher_writes_each_connection_once_per_loop_turn() -> None:
    async def scenario() -> list[int]:
        links = [RecordingLink() for _ in range(3)]
        flusher = Flusher()
        conns = [Connection(link, f"c{i}", 1 << 20, flusher) for i, link in enumerate(links)]
        for turn in range(2):
            for _ in range(10):  # ten events fanned out in one turn
                for conn in conns:
                    conn.send(text_frame(b'{"turn":%d}' % turn))
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        return [len(link.writes) for link in links]

    assert asyncio.run(scenario()) == [2, 2, 2]


def test_a_reader_whose_socket_holds_more_than_the_bound_is_dropped_and_closed_1013() -> None:
    conn, link, flusher, dropped = connection(limit=100)
    conn.send_text("a" * 30)
    flusher.flush()
    assert link.closed_with is None
    link.unsent = 150  # the reader has not read: what was written piles up in its socket
    conn.send_text("b" * 30)
    flusher.flush()
    assert link.closed_with == 1013
    assert dropped == [1]
    conn.send_text("c")
    flusher.flush()
    assert len(link.writes) == 2  # nothing more after the close


def test_more_than_the_bound_pending_at_once_is_a_slow_consumer_too() -> None:
    conn, link, flusher, dropped = connection(limit=100)
    conn.send_text("a" * 60)
    assert link.closed_with is None
    conn.send_text("b" * 60)
    assert (link.closed_with, dropped) == (1013, [1])
    flusher.flush()
    assert link.writes == []  # what was pending is dropped


def test_a_reader_that_keeps_up_is_never_dropped() -> None:
    conn, link, flusher, _ = connection(limit=100)
    for _ in range(50):
        link.unsent = 90  # slow, but within the bound
        conn.send_text("x" * 40)
        flusher.flush()
    assert link.closed_with is None
    assert len(link.writes) == 50


def test_one_oversize_frame_may_go_alone_on_an_empty_socket() -> None:
    conn, link, flusher, _ = connection(limit=100)
    conn.send_text('"' + "s" * 500 + '"', oversize_ok=True)
    flusher.flush()
    assert link.closed_with is None
    assert parse_frames(link.writes[0]) == ["s" * 500]


def test_close_sends_what_was_queued_first_then_nothing_more() -> None:
    conn, link, flusher, _ = connection()
    conn.send_text('{"type":"ERROR"}')
    conn.close(4401, "token expired")
    assert parse_frames(b"".join(link.writes)) == [{"type": "ERROR"}]
    assert link.closed_with == 4401
    conn.send_text('{"late":true}')
    flusher.flush()
    assert len(link.writes) == 1


def test_paced_sending_waits_for_the_socket_to_drain() -> None:
    async def scenario() -> bool:
        conn, link, _, _ = connection(limit=1000, unsent=900)
        waiter = asyncio.ensure_future(conn.wait_for_room(200))
        await asyncio.sleep(0.02)
        blocked = not waiter.done()
        link.unsent = 100
        await asyncio.wait_for(waiter, 1)
        return blocked

    assert asyncio.run(scenario())


def test_a_busy_flusher_waits_before_its_next_flush_so_frames_share_a_write() -> None:
    async def scenario() -> tuple[int, int]:
        slow_link = RecordingLink(write_seconds=0.004)  # a flush that takes longer than busy_after
        writes = slow_link.writes
        flusher = Flusher(busy_after=0.002, max_delay=0.05)
        conn = Connection(slow_link, "c1", 1 << 20, flusher)
        conn.send_text("1")
        await asyncio.sleep(0.001)  # the first flush happens at the end of its turn
        first = len(writes)
        for n in range(2, 5):  # three more events, each in its own turn, right after
            conn.send_text(str(n))
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        return first, len(writes)

    first, total = asyncio.run(scenario())
    assert first == 1
    assert total == 2  # the three later events went out together


def test_an_idle_flusher_writes_at_the_end_of_every_turn() -> None:
    async def scenario() -> int:
        link = RecordingLink()
        flusher = Flusher(busy_after=0.002, max_delay=0.05)
        conn = Connection(link, "c1", 1 << 20, flusher)
        for n in range(3):
            conn.send_text(str(n))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        return len(link.writes)

    assert asyncio.run(scenario()) == 3
