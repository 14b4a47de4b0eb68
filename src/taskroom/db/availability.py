"""Telling "the database cannot be reached" apart from every other database error.

A request that fails because PostgreSQL is down, restarting, refusing connections or cut off
mid-way is not a bug of the server and not the client's fault: it answers 503 and is worth
retrying. Anything else a database raises (a constraint, a bad statement) stays a 500.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError

# SQLSTATE classes and codes of PostgreSQL that mean "no usable connection right now":
# 08 connection exception, 53 insufficient resources (too many connections, out of memory or disk),
# 57P01-57P05 the server shutting down, crashed, starting up or idle-session timeouts.
_UNAVAILABLE_CLASSES = ("08", "53")
_UNAVAILABLE_CODES = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05"})


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) says the database could not be reached or was lost."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if _is_unavailability(error):
            return True
        pending.extend((error.__cause__, error.__context__))
        if isinstance(error, DBAPIError) and isinstance(error.orig, BaseException):
            pending.append(error.orig)
    return False


def _is_unavailability(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    # The socket itself: refused, reset, unreachable, timed out (TimeoutError is an OSError).
    if isinstance(error, OSError):
        return True
    # asyncpg: the connection closed under a query, or a connection-class error from the server.
    if isinstance(error, asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.PostgresConnectionError):
        return True
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and (
        sqlstate.startswith(_UNAVAILABLE_CLASSES) or sqlstate in _UNAVAILABLE_CODES
    )
