"""The pure parts of the client's token handling: when to stop on refusals, when to renew."""

from __future__ import annotations

import pytest

from taskroom.client.refusals import MAX_REFUSED_CONNECTS, Refusals
from taskroom.client.session import Tokens


def test_three_refused_connects_in_a_row_stop_the_client_and_an_open_connection_breaks_the_row() -> None:
    refusals = Refusals()
    assert MAX_REFUSED_CONNECTS == 3
    assert refusals.refused_at_connect("a") is False
    assert refusals.refused_at_connect("b") is False
    refusals.opened()
    assert refusals.refused_at_connect("c") is False
    assert refusals.refused_at_connect("d") is False
    assert refusals.refused_at_connect("e") is True


def test_a_refused_token_is_remembered_wherever_it_was_refused() -> None:
    refusals = Refusals()
    refusals.refused("on-an-open-connection")
    refusals.refused_at_connect("at-a-connect")
    refusals.opened()  # forgets the row, not the tokens
    assert refusals.was_refused("on-an-open-connection")
    assert refusals.was_refused("at-a-connect")
    assert not refusals.was_refused("another")
    assert refusals.in_row == 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Refusals(limit=0)


def test_tokens_read_from_an_answer_count_the_whole_second_rounding_of_exp() -> None:
    tokens = Tokens.from_answer({"accessToken": "a", "refreshToken": "r", "expiresIn": 5}, sent_at=100.0)
    assert (tokens.access_token, tokens.refresh_token) == ("a", "r")
    assert tokens.expires_at == 104.0 and tokens.lifetime == 4.0


@pytest.mark.parametrize(
    ("expires_in", "now", "due"),
    [
        (3600, 100.0 + 3599 - 31, False),  # an hour-long token: 30 s before its end
        (3600, 100.0 + 3599 - 30, True),
        (5, 101.9, False),  # a 5-second token (4 s counted): past half of it
        (5, 102.0, True),
        (5, 200.0, True),  # long expired
    ],
)
def test_a_token_is_due_within_the_margin_or_past_half_its_life(
    expires_in: int, now: float, due: bool
) -> None:
    tokens = Tokens.from_answer({"accessToken": "a", "expiresIn": expires_in}, sent_at=100.0)
    assert tokens.due(now, margin=30.0) is due


def test_an_answer_without_expiry_is_never_due_and_one_without_an_access_token_is_refused() -> None:
    assert not Tokens.from_answer({"accessToken": "a"}, sent_at=0.0).due(1e9, margin=30.0)
    with pytest.raises(ValueError):
        Tokens.from_answer({"refreshToken": "r"}, sent_at=0.0)
