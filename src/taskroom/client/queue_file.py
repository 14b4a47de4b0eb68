"""The offline queue kept in a SQLite file, so a process that restarts sends what it had queued
(PROTOCOL §6, ``TaskroomAPI(..., queue_path=…)``).

Each change is its own committed transaction before the call returns: a process killed at any
point finds on its next start every write it had queued. WAL with ``synchronous=NORMAL`` survives
a killed process; only a power cut may lose the last commits.

A write is also kept while it is in flight (``hold``). A process killed after sending it but before
the answer arrived sends it again on its next start, with the same ``Idempotency-Key``, so the
server applies it once whether or not the first try reached it.

One process owns a queue file at a time: the file is locked when opened (SQLite's exclusive
locking mode), and a second opener gets `QueueFileBusy` instead of sending the same writes.

The standard library's ``sqlite3`` is enough here: a local file of a few rows, written once per
REST write; each statement takes well under a millisecond, so it runs on the caller's thread.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .offline import QueueFull, WriteRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queued_writes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    in_flight INTEGER NOT NULL DEFAULT 0
)
"""


class QueueFileBusy(Exception):
    """Another process has the queue file open."""


class SqliteQueue:
    """First in, first out, bounded, in a SQLite file (the same interface as `OfflineQueue`)."""

    def __init__(self, path: str | os.PathLike[str], limit: int) -> None:
        if limit < 1:
            raise ValueError("the queue limit must be at least 1")
        self.limit = limit
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=0.5)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            with self._transaction():
                self._db.execute(_SCHEMA)
                # What was in flight when the last process stopped goes out again, in its place.
                self._db.execute("UPDATE queued_writes SET in_flight = 0")
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc):
                raise QueueFileBusy(f"{self.path} is in use by another process") from None
            raise

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM queued_writes WHERE in_flight = 0").fetchone()
        return int(count)

    def __iter__(self) -> Iterator[WriteRequest]:
        rows = self._db.execute(
            "SELECT method, path, body, idempotency_key FROM queued_writes WHERE in_flight = 0 ORDER BY id"
        ).fetchall()
        return iter([_request(row) for row in rows])

    def append(self, request: WriteRequest) -> None:
        self._insert(request, in_flight=False)

    def first(self) -> WriteRequest | None:
        row = self._db.execute(
            "SELECT method, path, body, idempotency_key FROM queued_writes WHERE in_flight = 0"
            " ORDER BY id LIMIT 1"
        ).fetchone()
        return _request(row) if row is not None else None

    def pop_first(self) -> WriteRequest:
        with self._transaction():
            row = self._db.execute(
                "SELECT id, method, path, body, idempotency_key FROM queued_writes WHERE in_flight = 0"
                " ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                raise IndexError("the queue is empty")
            self._db.execute("DELETE FROM queued_writes WHERE id = ?", (row[0],))
        return _request(row[1:])

    def hold(self, request: WriteRequest) -> None:
        """Keep a write that is being sent, so a process killed meanwhile sends it again."""
        self._insert(request, in_flight=True)

    def release(self, request: WriteRequest) -> None:
        """The held write was answered: forget it."""
        self._db.execute(
            "DELETE FROM queued_writes WHERE idempotency_key = ? AND in_flight = 1",
            (request.idempotency_key,),
        )

    def requeue(self, request: WriteRequest) -> None:
        """The held write did not reach the server: it waits in the queue, in its place."""
        self._db.execute(
            "UPDATE queued_writes SET in_flight = 0 WHERE idempotency_key = ?", (request.idempotency_key,)
        )

    def _insert(self, request: WriteRequest, *, in_flight: bool) -> None:
        (count,) = self._db.execute("SELECT count(*) FROM queued_writes").fetchone()
        if count >= self.limit:
            raise QueueFull(f"{self.limit} writes are already waiting")
        body = json.dumps(request.body) if request.body is not None else None
        # A write queued again under its key (re-enqueued by the app) is already there: once is enough.
        self._db.execute(
            "INSERT OR IGNORE INTO queued_writes (method, path, body, idempotency_key, in_flight) VALUES (?, ?, ?, ?, ?)",
            (request.method, request.path, body, request.idempotency_key, int(in_flight)),
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _request(row: tuple[str, str, str | None, str]) -> WriteRequest:
    method, path, body, key = row
    return WriteRequest(method, path, json.loads(body) if body is not None else None, key)
