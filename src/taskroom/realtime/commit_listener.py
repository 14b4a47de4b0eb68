"""Commit notices from PostgreSQL: every node hears each committed log head, whoever wrote it.

A write transaction on PostgreSQL ends with `pg_notify` (`Database.announce_commit`), which the
server delivers to every listener if and only if the transaction commits, even when the writing
node dies a moment later, before it could publish on the broker. Each node listens here on a
connection of its own and hands `(workspace, seq)` to the log safety net, which reads the log
for a room that has not received that seq through the broker within WS_GAP_FILL_DELAY. So an
event whose publisher died reaches everyone in a fraction of a second instead of at the next
log poll, and while Redis is away the nodes keep delivering each other's events from the log.

asyncpg's LISTEN is used directly: SQLAlchemy has no API for notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import asyncpg
from sqlalchemy.engine import make_url

from ..services.database import COMMIT_CHANNEL

logger = logging.getLogger(__name__)

_RETRY_FIRST, _RETRY_MAX = 0.1, 2.0  # back-off while PostgreSQL is away
_CHECK_EVERY = 5.0  # seconds between checks that a quiet connection is still alive
_CHECK_TIMEOUT = 5.0


class CommitNotices(Protocol):
    """Who is told of commits (the log safety net)."""

    def heard_commit(self, workspace_id: str, seq: int) -> None:
        """A commit notice: the workspace's log reached `seq`."""
        ...

    def catch_up_soon(self) -> None:
        """Notices sent while this node was not listening are gone: compare with the log."""
        ...


def listener_dsn(database_url: str) -> str:
    """`postgresql+asyncpg://…` or `postgresql://…` as the plain DSN asyncpg connects with."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def parse_notice(payload: str) -> list[tuple[str, int]]:
    """The (workspace, seq) heads of one notice; malformed lines are ignored."""
    heads: list[tuple[str, int]] = []
    for line in payload.splitlines():
        workspace_id, _, seq = line.partition(" ")
        if workspace_id and seq.isdigit():
            heads.append((workspace_id, int(seq)))
    return heads


class CommitListener:
    def __init__(self, database_url: str, notices: CommitNotices) -> None:
        self._dsn = listener_dsn(database_url)
        self._notices = notices

    async def run(self) -> None:
        """Listen until cancelled, reconnecting by itself with a capped back-off."""
        retry = _RETRY_FIRST
        while True:
            try:
                connection = await asyncpg.connect(self._dsn, timeout=_CHECK_TIMEOUT)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                logger.warning("commit notices: cannot connect (%s); retrying in %.1f s", exc, retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, _RETRY_MAX)
                continue
            retry = _RETRY_FIRST
            try:
                await self._listen(connection)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                logger.warning("commit notices: connection lost (%s); reconnecting", exc)
            finally:
                with contextlib.suppress(Exception):
                    connection.terminate()

    async def _listen(self, connection: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(COMMIT_CHANNEL, self._on_notice)
        self._notices.catch_up_soon()
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), _CHECK_EVERY)
                continue
            # A connection cut without a FIN (a dead host, a dropped route) is found here.
            await asyncio.wait_for(connection.execute("SELECT 1"), _CHECK_TIMEOUT)
        raise ConnectionError("the listening connection was closed")

    def _on_notice(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        for workspace_id, seq in parse_notice(payload):
            self._notices.heard_commit(workspace_id, seq)
