"""Engine construction: one code path for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import QueuePool

from .sqlite_inline import INLINE_BUSY_TIMEOUT_MS, inline_creator

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """Map the user-facing URL (`sqlite:///…`, `postgresql://…`) onto its asyncio driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(
            f"unsupported DATABASE_URL scheme {parsed.drivername!r}: use sqlite:// or postgresql://"
        )
    if "+" in parsed.drivername:
        return parsed.render_as_string(hide_password=False)
    return parsed.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """The engine for `url`.

    On SQLite its calls run inline on the event loop (`sqlite_inline.py`), and `read_only`
    engines begin deferred transactions (a WAL snapshot, which never waits for the writer) where
    the others take the write lock at BEGIN. PostgreSQL takes no lock to read, so `read_only`
    changes nothing there.
    """
    if not is_sqlite(url):
        return create_async_engine(async_url(url), **kwargs)
    path = make_url(url).database or ":memory:"
    # The URL names the file although `inline_creator` opens it: the dialect picks the pool from
    # the URL, and one without a file is taken for `:memory:`, which gets a StaticPool, one
    # connection shared by every caller. A caller holding it open across an await (a session
    # closing in a task of its own) then has the next one BEGIN inside its transaction ("cannot
    # start a transaction within a transaction") or its ROLLBACK end the other's transaction.
    if path != ":memory:":
        # The connection returned last is handed out first: SQLite drops a connection's page
        # cache when another connection wrote since its last transaction, and writers take turns,
        # so they keep reusing one connection and its cache.
        kwargs.setdefault("pool_use_lifo", True)
    engine = create_async_engine(async_url(url), async_creator=inline_creator(path), **kwargs)
    _configure_sqlite(
        engine.sync_engine,
        begin="BEGIN" if read_only else "BEGIN IMMEDIATE",
        busy_timeout_ms=INLINE_BUSY_TIMEOUT_MS,
    )
    return engine


def create_sqlite_reader(url: str) -> Engine:
    """A blocking engine for the short reads of the real-time layer, run on the loop's thread.

    Deferred `BEGIN`: a WAL snapshot, which never waits for the writer. Not asyncio at all: an
    async engine's transaction, even inline, costs two extra loop turns and a task to close (the
    price of SQLAlchemy's cancellation-safe cleanup), and these reads run on every authentication,
    resume and gap fill. Its pool grows as needed (a checkout never waits: it would block the loop).
    """
    engine = create_sync_engine(
        make_url(url).set(drivername="sqlite+pysqlite"), poolclass=QueuePool, pool_size=4, max_overflow=-1
    )
    _configure_sqlite(engine, begin="BEGIN", busy_timeout_ms=INLINE_BUSY_TIMEOUT_MS)
    return engine


def _configure_sqlite(engine: Engine, begin: str, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, and the statement every transaction begins with.

    A deferred transaction that reads and then writes fails with SQLITE_BUSY when another
    writer got in between; taking the lock at BEGIN (BEGIN IMMEDIATE) makes concurrent writers
    queue instead (busy_timeout) — the SQLite counterpart of the row lock on `workspaces.seq` on
    PostgreSQL. Reads must not take that lock: they would queue behind every writer (and each
    other) for nothing, since a WAL read transaction sees one consistent snapshot without it.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
