"""The Redis of 127.0.0.1 for tests: reachable or not, and a key prefix of each test's own."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from tests.support.databases import IN_CI

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> None:
    """Fail under CI (Redis is promised there); skip on a laptop without it."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (OSError, redis.RedisError) as exc:
        if IN_CI:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis is not reachable: {exc}")
    finally:
        client.close()


def fresh_prefix() -> str:
    """Channel and key names no other test (or service) uses."""
    return f"taskroom-test:{uuid.uuid4().hex[:12]}:"
