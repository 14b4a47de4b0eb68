"""Transactions for the services: one `async with` per unit of work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Connection, Executable, Result, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..db.engine import create_engine, create_sqlite_reader, is_sqlite, session_factory

# The PostgreSQL NOTIFY channel of committed log heads; its payload is "workspaceId seq" lines.
COMMIT_CHANNEL = "taskroom_log"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


class Reader(Protocol):
    """Statements in, buffered rows out: what the real-time layer's reads need (see `rows()`)."""

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result[*tuple[Any, ...]]: ...


class _BlockingReader:
    """A read on SQLite's blocking engine, right here on the loop's thread (no await inside)."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result[*tuple[Any, ...]]:
        return self._connection.execute(statement, parameters)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        # SQLite has one writer anyway; a small pool keeps its file handles few.
        kwargs: dict[str, Any] = (
            {} if self.is_sqlite else {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}
        )
        self.engine: AsyncEngine = create_engine(url, **kwargs)
        self._sessions = session_factory(self.engine)
        # On SQLite, reads have an engine of their own that never takes the write lock.
        self._read_engine = create_engine(url, read_only=True, **kwargs) if self.is_sqlite else self.engine
        self._read_sessions = session_factory(self._read_engine)
        self._rows_engine = create_sqlite_reader(url) if self.is_sqlite else None
        # SQLite has one writer at a time. Writers of this process queue here, in order, instead
        # of in SQLite's busy handler, which polls with sleeps of up to 100 ms: under contention
        # that made a write's latency seconds. Other processes (the CLI) still meet busy_timeout.
        self._writer_turn = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Commit when the block ends, roll back on any exception."""
        if self._writer_turn is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._writer_turn, self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A transaction that only reads, never waiting for a writer (do not write in it).

        On SQLite one consistent snapshot. On PostgreSQL each statement sees what was committed
        before it: a read that must be exact at a seq under concurrent writes takes the
        workspace's lock in `transaction()` instead."""
        async with self._read_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction that sees one moment, without blocking any writer.

        SQLite's read transaction is one snapshot already. On PostgreSQL it is REPEATABLE READ: every
        statement sees what was committed before the first one, so rows and the log's head agree
        (a workspace's writers commit in seq order, under its lock, so that moment is a prefix of
        its log). Used by reads that must be exact at a seq but may be long, like `/snapshot`;
        `transaction()` with the workspace's lock would hold its writers back meanwhile."""
        if self.is_sqlite:
            async with self.read() as session:
                yield session
            return
        async with self._sessions() as session, session.begin():
            await session.connection(
                execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            )
            yield session

    @asynccontextmanager
    async def rows(self) -> AsyncIterator[Reader]:
        """A short Core read for the real-time layer (rows, not objects), as cheap as it gets.

        SQLite: one snapshot on the blocking reader, which never yields to the loop (keep these
        reads to a few indexed queries). PostgreSQL: a connection and its transaction."""
        if self._rows_engine is not None:
            with self._rows_engine.begin() as connection:
                yield _BlockingReader(connection)
            return
        async with self.engine.connect() as async_connection, async_connection.begin():
            yield async_connection

    async def announce_commit(self, session: AsyncSession, heads: Mapping[str, int]) -> None:
        """Tell every node, with the commit itself, the new head seq of each workspace written.

        PostgreSQL delivers a NOTIFY to its listeners if and only if the transaction commits, even
        when this process dies right after: nodes then read the log without waiting for a poll
        (`realtime/commit_listener.py`). SQLite serves one node, which needs no such notice.
        """
        if self.is_sqlite:
            return
        payload = "\n".join(f"{workspace_id} {seq}" for workspace_id, seq in heads.items())
        await session.execute(_NOTIFY, {"channel": COMMIT_CHANNEL, "payload": payload})

    async def ping(self) -> None:
        # On the read engine: on SQLite the write engine's BEGIN IMMEDIATE would take the write
        # lock, outside the writers' queue, and hold it while the connection closes in a task of
        # its own; a writer meeting it would block the loop for busy_timeout and fail.
        async with self._read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._read_engine is not self.engine:
            await self._read_engine.dispose()
        if self._rows_engine is not None:
            self._rows_engine.dispose()
