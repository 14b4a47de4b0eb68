"""Waiting for a state that a server reaches on its own thread (a close seen, a counter updated)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], until: Callable[[T], bool], timeout: float = 5.0) -> T:
    """Call `probe` until `until(result)` holds and return that result; fail with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition never held; last value: {result!r}")
        time.sleep(0.02)
