"""aiosqlite's interface, with every call run right away on the calling thread.

SQLAlchemy's asyncio support drives SQLite through aiosqlite, which runs each call on a worker
thread of its own and hands the result back to the event loop. A write transaction is some twenty
calls, so twenty hops between threads; and while the loop is busy (a fan-out) each hop waits for
the GIL, for up to the interpreter's switch interval. A write then took 7 ms of CPU and, under
fan-out, whole seconds to answer. SQLite is a library in this process, not a server: a WAL-mode
statement of this service takes microseconds, and with synchronous=NORMAL a commit does not wait
for the disk. Running the calls inline costs the loop that much and no more.

What this trades: a statement that has to wait blocks the loop while it waits. In-process writers
never wait on each other (`Database` queues them before BEGIN), and WAL readers never wait for the
writer; what is left is another process holding the write lock (the CLI, a backup), which
`INLINE_BUSY_TIMEOUT_MS` bounds. Every call still goes through aiosqlite's own methods, so the
dialect and its error handling are SQLAlchemy's, unchanged.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

INLINE_BUSY_TIMEOUT_MS = 5_000


class _RunNow:
    """Stands where aiosqlite's queue to its worker thread is: runs the work as it is put."""

    __slots__ = ()

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            elif future is None:
                raise
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without its thread: awaiting a call returns its finished result."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def __await__(self) -> Any:
        # aiosqlite starts its worker thread here; there is none.
        return self._connect().__await__()


def inline_creator(path: str) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy's create_async_engine: inline connections to `path`."""

    def connector() -> sqlite3.Connection:
        # The pool may hand a connection to any task of the loop's thread; never to another thread.
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    async def create() -> InlineConnection:
        connection = InlineConnection(connector)
        await connection
        return connection

    return create
