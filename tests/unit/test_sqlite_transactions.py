"""On the embedded SQLite file, each unit of work that is open at a time has its own connection.

A session or connection closes in a task of its own, so it is still open when other tasks run.
Were they handed the same SQLite connection, the next one would BEGIN inside the first one's
transaction ("cannot start a transaction within a transaction", a 500 for the write), or one's
ROLLBACK would end the other's transaction and with it its snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text

from taskroom.services.database import Database
from tests.support.databases import sqlite_url

_COUNT = text("SELECT count(*) FROM notes")


def run_on_notes(tmp_path: Path, scenario: Callable[[Database], Awaitable[None]]) -> None:
    """Runs `scenario` on a fresh SQLite file that holds an empty `notes` table."""

    async def main() -> None:
        db = Database(sqlite_url(tmp_path))
        try:
            async with db.transaction() as session:
                await session.execute(text("CREATE TABLE notes (body TEXT NOT NULL)"))
            await scenario(db)
        finally:
            await db.dispose()

    asyncio.run(main())


async def _note(db: Database, body: str) -> None:
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})


def test_a_health_check_while_a_write_begins_does_not_fail_the_write(tmp_path: Path) -> None:
    # What a node restarted under load meets: the health probe's connection is still closing
    # when a replayed write begins.
    async def scenario(db: Database) -> None:
        await asyncio.gather(db.ping(), _note(db, "kept"))
        async with db.read() as session:
            assert (await session.execute(text("SELECT body FROM notes"))).scalars().all() == ["kept"]

    run_on_notes(tmp_path, scenario)


def test_two_reads_at_once_each_keep_their_own_snapshot(tmp_path: Path) -> None:
    async def scenario(db: Database) -> None:
        await _note(db, "first")
        first_read_open = asyncio.Event()
        written = asyncio.Event()

        async def long_read() -> tuple[int, int]:
            async with db.read() as session:
                before = (await session.execute(_COUNT)).scalar_one()
                first_read_open.set()
                await written.wait()
                return before, (await session.execute(_COUNT)).scalar_one()

        async def short_read_then_write() -> int:
            await first_read_open.wait()
            async with db.read() as session:
                seen = (await session.execute(_COUNT)).scalar_one()
            await _note(db, "second")
            written.set()
            return int(seen)

        (before, after), seen = await asyncio.gather(long_read(), short_read_then_write())
        assert (before, after, seen) == (1, 1, 1)  # a snapshot does not move under its reader
        async with db.read() as session:
            assert (await session.execute(_COUNT)).scalar_one() == 2

    run_on_notes(tmp_path, scenario)
