"""What operators see of authentication: one log line per refused credential and per socket's end.

Lines go to the logger `taskroom.auth` (shown at LOG_LEVEL info under `taskroom serve`), in a
`key=value` shape a log search can match on:

    credential refused endpoint=ws path=/api/v1/ws reason=expired
    socket closed path=/api/v1/tasks/T/doc user=U code=4401 reason="session ended" by=server

They name the path (never its query: the document endpoint's token travels there), the user
or, for an API key, its id (ids are no secret), the close code and reason, and a refusal's
reason code (`RefusalReason`). Never a credential: a refusal's message is not logged (a verifier
might quote what it was given), and the `TokenRedaction` filter on this logger redacts anything
token-shaped a close reason might carry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .identity import Identity, RefusalReason

logger = logging.getLogger("taskroom.auth")

# Which entry point refused a credential: the `endpoint` label of the refusal counter.
REST = "rest"
WEBSOCKET = "ws"
DOCUMENT = "doc"

#: Counts one refusal: (endpoint, reason).
CountRefusal = Callable[[str, RefusalReason], None]


def who(identity: Identity | None, user_id: str | None = None) -> str:
    """`key=<id>` for an API key's socket, else `user=<id>` (`user=-` before authentication)."""
    if identity is not None and identity.key_id is not None:
        return f"key={identity.key_id}"
    name = identity.user_id if identity is not None else user_id
    return f"user={name or '-'}"


def socket_closed(
    path: str, identity: Identity | None, user_id: str | None, code: int | None, reason: str, by: str
) -> None:
    """One line for a socket's end; `by` is `server` or `client` (who sent the close)."""
    logger.info(
        "socket closed path=%s %s code=%s reason=%s by=%s",
        path,
        who(identity, user_id),
        code if code is not None else "-",
        _quoted(reason),
        by,
    )


class RefusalLog:
    """Counts and logs the refusals of one entry point."""

    def __init__(self, endpoint: str, count: CountRefusal, level: int = logging.INFO) -> None:
        self.endpoint = endpoint
        self._count = count
        self._level = level

    def refused(self, reason: RefusalReason, path: str) -> None:
        self._count(self.endpoint, reason)
        logger.log(
            self._level, "credential refused endpoint=%s path=%s reason=%s", self.endpoint, path, reason.value
        )

    def at(self, path: str) -> Callable[[RefusalReason], None]:
        """An authenticator's observer for an entry point of one path (`Authenticator.observed`)."""
        return lambda reason: self.refused(reason, path)


def _quoted(text: str) -> str:
    # Quoted, with its quotes and line breaks escaped: a client's close reason cannot forge a line.
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'
