"""The back-off sequence of the client, with a scripted random source and clock."""

from __future__ import annotations

import itertools

import pytest

from taskroom.client import Backoff


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_delay_is_full_jitter_within_the_doubling_window_up_to_the_cap() -> None:
    draws = itertools.cycle([0.0, 0.25, 0.5, 0.999])
    drawn: list[float] = []

    def scripted() -> float:
        drawn.append(next(draws))
        return drawn[-1]

    backoff = Backoff(base=0.5, cap=8.0, floor=0.0, random=scripted)
    delays = [backoff.next_delay() for _ in range(10)]
    windows = [min(8.0, 0.5 * 2**n) for n in range(10)]
    assert windows[-1] == 8.0  # the cap is reached within the run
    assert delays == pytest.approx([r * w for r, w in zip(drawn, windows, strict=True)])
    assert all(0 <= d <= w for d, w in zip(delays, windows, strict=True))


def test_the_floor_holds_even_when_the_jitter_draws_zero() -> None:
    backoff = Backoff(base=0.01, cap=5.0, floor=0.2, random=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.2] * 6


def test_delays_stay_within_floor_and_cap_with_the_real_random_source() -> None:
    backoff = Backoff(base=0.1, cap=2.0, floor=0.05)
    for n in range(200):
        delay = backoff.next_delay()
        assert 0.05 <= delay <= max(0.05, min(2.0, 0.1 * 2**n))


def test_the_sequence_restarts_only_after_a_connection_stayed_healthy() -> None:
    clock = ManualClock()
    backoff = Backoff(base=1.0, cap=64.0, floor=0.0, healthy_after=10.0, random=lambda: 1.0, clock=clock)
    assert [backoff.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]

    backoff.opened()
    clock.now += 9.9  # dropped before it was healthy: keeps growing
    assert backoff.next_delay() == 8.0

    backoff.opened()
    clock.now += 10.0  # stayed up long enough: starts over
    assert backoff.next_delay() == 1.0
    assert backoff.next_delay() == 2.0


def test_a_failure_without_an_open_connection_never_resets() -> None:
    clock = ManualClock()
    backoff = Backoff(base=1.0, cap=64.0, floor=0.0, healthy_after=1.0, random=lambda: 1.0, clock=clock)
    backoff.opened()
    clock.now += 5
    assert backoff.next_delay() == 1.0
    clock.now += 100  # time passing while failing is not health
    assert backoff.next_delay() == 2.0


def test_a_very_long_outage_does_not_overflow() -> None:
    backoff = Backoff(base=1.0, cap=30.0, floor=0.0, random=lambda: 1.0)
    for _ in range(2000):
        delay = backoff.next_delay()
    assert delay == 30.0


@pytest.mark.parametrize(
    "settings",
    [{"base": 0}, {"cap": -1}, {"floor": -0.1}, {"floor": 60.0, "cap": 30.0}, {"healthy_after": -1}],
)
def test_nonsense_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**settings)
