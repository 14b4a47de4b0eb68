"""What the client resumes from and what it drops: its per-workspace log positions."""

from __future__ import annotations

import pytest

from taskroom.client.positions import LogPositions, Verdict
from taskroom.client.tokens import refresh_delay
from taskroom.client.urls import http_base_url, websocket_url


def test_the_next_seq_is_delivered_and_anything_at_or_below_the_last_is_a_duplicate() -> None:
    positions = LogPositions({"w": 4})
    assert positions.accept("w", 5) is Verdict.DELIVER
    assert positions.accept("w", 5) is Verdict.DUPLICATE
    assert positions.accept("w", 3) is Verdict.DUPLICATE
    assert positions.last("w") == 5


def test_an_event_past_a_gap_is_not_delivered_and_does_not_move_the_position() -> None:
    positions = LogPositions({"w": 4})
    assert positions.accept("w", 7) is Verdict.GAP
    assert positions.resume_map() == {"w": 4}


def test_the_first_event_of_an_unknown_workspace_starts_following_it() -> None:
    positions = LogPositions()
    assert positions.accept("new", 12) is Verdict.DELIVER
    assert positions.resume_map() == {"new": 12}


def test_an_authentication_answer_starts_live_rooms_and_forgets_resumed_rooms_not_joined() -> None:
    positions = LogPositions({"kept": 3, "left": 9})
    positions.joined([("kept", 8), ("fresh", 5)], resumed=["kept", "left"])
    # "kept" resumes from 3 (the replay brings 4..8); "fresh" is followed from its join point.
    assert positions.resume_map() == {"kept": 3, "fresh": 5}


def test_a_reset_moves_the_position_to_the_snapshot() -> None:
    positions = LogPositions({"w": 2})
    positions.reset_to("w", 40)
    assert positions.accept("w", 41) is Verdict.DELIVER


def test_a_token_is_refreshed_before_expiry_but_never_in_a_tight_loop() -> None:
    assert refresh_delay(3600, margin=30) == 3570
    assert refresh_delay(4, margin=30) == 2  # short-lived: halfway
    assert refresh_delay(-50, margin=30) == 0.5  # a clock far off: still a pause


@pytest.mark.parametrize(
    ("given", "dialed"),
    [
        ("ws://127.0.0.1:8000", "ws://127.0.0.1:8000/api/v1/ws"),
        ("http://127.0.0.1:8000/", "ws://127.0.0.1:8000/api/v1/ws"),
        ("https://tasks.example.com", "wss://tasks.example.com/api/v1/ws"),
        ("wss://tasks.example.com/api/v1/ws", "wss://tasks.example.com/api/v1/ws"),
        ("wss://example.com/proxied/ws", "wss://example.com/proxied/ws"),
    ],
)
def test_the_address_dialed(given: str, dialed: str) -> None:
    assert websocket_url(given) == dialed


@pytest.mark.parametrize("bad", ["ftp://example.com", "example.com:8000", "ws://"])
def test_an_address_that_is_not_a_server_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        websocket_url(bad)


def test_the_rest_base() -> None:
    assert http_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/api/v1"
    assert http_base_url("wss://example.com/api/v1/") == "https://example.com/api/v1"
