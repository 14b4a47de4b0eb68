"""Fresh databases for test servers: a SQLite file, or a new PostgreSQL database per server."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
import pytest

POSTGRES_ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_postgres() -> None:
    """Fail under CI (PostgreSQL is promised there); skip on a laptop without it."""
    try:
        asyncio.run(_ping())
    except (OSError, asyncpg.PostgresError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")


async def _ping() -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    await conn.close()


def create_postgres_database() -> str:
    name = f"taskroom_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / f'taskroom-{uuid.uuid4().hex[:8]}.db'}"
