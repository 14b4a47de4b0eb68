"""`taskroom serve` raises its own open-files limit so that WS_MAX_CONNECTIONS fit out of the box."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from taskroom.server import raise_open_files_limit


@pytest.fixture
def limits() -> Iterator[tuple[int, int]]:
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield saved
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_the_soft_limit_is_raised_to_what_the_node_needs(limits: tuple[int, int]) -> None:
    _, hard = limits
    wanted = 2048 if hard == resource.RLIM_INFINITY else min(2048, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    assert raise_open_files_limit(wanted) == wanted
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (wanted, hard)


def test_it_never_passes_the_hard_limit(limits: tuple[int, int]) -> None:
    _, hard = limits
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    if hard == resource.RLIM_INFINITY:  # nothing to stop at: it gets what it asks for
        assert raise_open_files_limit(4096) == 4096
    else:
        assert raise_open_files_limit(hard + 1_000) == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[1] == hard


def test_it_never_lowers_the_soft_limit(limits: tuple[int, int]) -> None:
    _, hard = limits
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    assert raise_open_files_limit(16) == 512
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (512, hard)
