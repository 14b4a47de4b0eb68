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


def test_a_reader_past_the_bound_is_dropped_and_closed_1013() -> None:
    conn, link, flusher, dropped = connection(limit=100, unsent=60)
    conn.send_text("")
    flusher.flush()  # the socket then held 60 unsent bytes
    link.writes.clear()
    conn.send_text("a" * 30)
    assert link.closed_with is None
    conn.send_text("b" * 30)  # 60 unsent in the socket + 64 pending > 100
    assert link.closed_with == 1013
    assert dropped == [1]
    flusher.flush()
    assert link.writes == []  # what was pending is dropped
    conn.send_text("c")
    flusher.flush()
    assert link.writes == []


def test_a_reader_that_caught_up_since_the_last_flush_is_not_dropped() -> None:
    conn, link, flusher, _ = connection(limit=100, unsent=90)
    conn.send_text("a")
    flusher.flush()  # the socket then held 90 unsent bytes
    link.unsent = 0  # and the reader has read them all since
    conn.send_text("b" * 50)
    assert link.closed_with is None


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
