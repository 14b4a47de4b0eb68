"""Specification of per-connection rate limiting: a token bucket and a counter for abuse that goes on."""

from __future__ import annotations

import pytest

from taskroom.realtime.ratelimit import AbuseCounter
from taskroom.security.token_bucket import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_bucket_starts_full_and_allows_one_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=20, burst=40, clock=clock)
    assert all(bucket.try_acquire() for _ in range(40))
    assert not bucket.try_acquire()


def test_bucket_refills_at_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=20, burst=40, clock=clock)
    while bucket.try_acquire():
        pass
    clock.advance(0.5)
    assert bucket.available() == 10
    assert sum(bucket.try_acquire() for _ in range(20)) == 10


def test_bucket_never_holds_more_than_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=20, burst=40, clock=clock)
    bucket.try_acquire()
    clock.advance(3600)
    assert bucket.available() == 40
    assert sum(bucket.try_acquire() for _ in range(100)) == 40


def test_sustained_traffic_is_held_to_rate_after_the_burst(clock: FakeClock) -> None:
    # An attempt every 1/64 s from t=0 to t=10 s against 16/s with a burst of 40: the burst,
    # then exactly the refill of those 10 s get through.
    bucket = TokenBucket(rate=16, burst=40, clock=clock)
    start = clock.now
    accepted = 0
    for step in range(10 * 64 + 1):
        clock.now = start + step / 64
        accepted += bucket.try_acquire()
    assert accepted == 40 + 16 * 10


def test_a_refused_acquire_takes_nothing(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=1, burst=2, clock=clock)
    bucket.try_acquire(2)
    clock.advance(0.5)
    assert not bucket.try_acquire()
    assert bucket.available() == 0.5


def test_cost_is_taken_whole(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=1, burst=5, clock=clock)
    assert bucket.try_acquire(3)
    assert not bucket.try_acquire(3)
    assert bucket.try_acquire(2)


def test_a_cost_above_burst_never_succeeds(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=1, burst=5, clock=clock)
    clock.advance(100)
    assert not bucket.try_acquire(6)
    assert bucket.available() == 5


def test_a_clock_stepping_back_refills_nothing(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=10, burst=10, clock=clock)
    bucket.try_acquire(10)
    clock.advance(-5)
    assert bucket.available() == 0
    clock.advance(0.5)
    assert bucket.available() == 5


def test_default_clock_is_usable() -> None:
    assert TokenBucket(rate=1, burst=1).try_acquire()


@pytest.mark.parametrize(("rate", "burst"), [(-1, 1), (1, 0), (1, -1)])
def test_bucket_refuses_nonsense_settings(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


def test_bucket_refuses_a_negative_cost(clock: FakeClock) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=1, clock=clock).try_acquire(-1)


def test_rejections_below_the_threshold_are_not_abuse() -> None:
    counter = AbuseCounter(threshold=3)
    assert [counter.rejected() for _ in range(2)] == [False, False]


def test_abuse_is_reported_from_the_threshold_on() -> None:
    counter = AbuseCounter(threshold=3)
    assert [counter.rejected() for _ in range(5)] == [False, False, True, True, True]


def test_an_accepted_message_ends_the_streak() -> None:
    counter = AbuseCounter(threshold=3)
    counter.rejected()
    counter.rejected()
    counter.accepted()
    assert counter.count == 0
    assert [counter.rejected() for _ in range(3)] == [False, False, True]


def test_threshold_one_reports_the_first_rejection() -> None:
    assert AbuseCounter(threshold=1).rejected()


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AbuseCounter(threshold=0)
