"""Transactions for the services: one `async with` per unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Connection, Executable, Result, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..db.engine import create_engine, create_sqlite_reader, is_sqlite, session_factory


class Reader(Protocol):
    """What a read needs: statements in, buffered results out (a session, or a reader below)."""

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result[*tuple[Any, ...]]: ...


class _LoopThreadReader:
    """SQLite reads run right here, on the event loop's thread.

    Why: through aiosqlite every statement of a read is a hop to its worker thread and back
    (begin, execute, fetch, commit: nine for a one-query read), and while the loop is busy each
    hop waits for the GIL, for up to the interpreter's switch interval. A WAL read of a few rows
    is tens of microseconds of work in the calling thread; waiting for it is cheaper than any hop.
    """

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
        self._reader = create_sqlite_reader(url) if self.is_sqlite else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Commit when the block ends, roll back on any exception."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Reader]:
        """A transaction that only reads, never waiting for a writer.

        On SQLite one consistent snapshot, read on the loop's thread (keep such reads short:
        a few indexed queries). On PostgreSQL each statement sees what was committed before it;
        a read that must be exact at a seq under concurrent writes takes the workspace's lock in
        `transaction()` instead."""
        if self._reader is not None:
            with self._reader.begin() as connection:
                yield _LoopThreadReader(connection)
            return
        async with self.engine.connect() as async_connection, async_connection.begin():
            yield async_connection

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._reader is not None:
            self._reader.dispose()
