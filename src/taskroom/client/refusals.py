"""When to stop asking for tokens: the rule of PROTOCOL.md §4 for tokens refused with 4401.

A token the server refused cannot get better, and neither can a provider that keeps handing out
tokens the server refuses. So the client stops (state ``unauthorized``) when the provider hands
back a token that was already refused, or when three connects in a row were refused. Pure: the
connection loop reports what happened and asks what to do.
"""

from __future__ import annotations

import hashlib

#: Connects refused in a row (4401 before the connection opened) after which the client stops.
MAX_REFUSED_CONNECTS = 3


def _digest(token: str) -> bytes:
    # Only a digest is kept: the refused tokens need not stay in memory (a dump, a debugger).
    return hashlib.sha256(token.encode()).digest()


class Refusals:
    """The tokens the server refused since ``connect()``, and the connects refused in a row.

    A row ends only when a connection opens: a network failure between two refusals does not
    make the third one any likelier to succeed.
    """

    def __init__(self, limit: int = MAX_REFUSED_CONNECTS) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.in_row = 0
        self._refused: set[bytes] = set()

    def was_refused(self, token: str) -> bool:
        """Whether the server already refused `token` (at a connect, a re-authentication, or by
        closing 4401 a connection authenticated with it)."""
        return _digest(token) in self._refused

    def refused(self, token: str) -> None:
        """The server refused `token` on an open connection; that does not count as a connect."""
        self._refused.add(_digest(token))

    def refused_at_connect(self, token: str) -> bool:
        """A connect was refused (4401 before opening); True when that was the last one allowed."""
        self.refused(token)
        self.in_row += 1
        return self.in_row >= self.limit

    def opened(self) -> None:
        """A connection opened: the row of refused connects is broken."""
        self.in_row = 0
