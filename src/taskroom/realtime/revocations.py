"""Sockets closed when the credential they were admitted with is revoked (PROTOCOL §5.1, §5.3).

Every socket of this node that is admitted (`/api/v1/ws` at AUTHENTICATE, the document endpoint
at its upgrade) is tracked here under the refresh session and the API key its `Identity` names.
A `Revoked` value names ended sessions (logout, `DELETE /auth/sessions`, refresh-token reuse,
password change) and, later, deleted API keys; `revoke` closes each matching socket with 4401.

How a revocation reaches every node: the node that ended the session hands its `Revoked` to its
own routing at once (no broker hop on the embedded default) and, with Redis, publishes it on the
one `revocations` channel every node subscribes to at start. Delivery is best effort, like every
broker message: if the publish fails, the sockets of the other nodes stay open until their access
token expires (the expiry timer closes them 4401) or they reconnect; REST still refuses the
session's tokens at once, since that check reads the database.

Admission and a revocation can cross: a socket whose session was checked live just before it
ended is tracked just after the revocation went by. So revoked ids are remembered for a while
(`RECENT_SECONDS`), and `track` closes at once a socket whose credential is among them.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from ..edge.identity import Identity
from .codec import Revoked
from .connection import Connection

logger = logging.getLogger(__name__)

#: How long a revoked id is remembered for the sockets admitted while it was being revoked.
RECENT_SECONDS = 60.0
#: At most this many remembered ids (the oldest go first): memory stays bounded whatever ends.
RECENT_MAX = 10_000
SESSION_ENDED = "session ended"
KEY_REVOKED = "api key revoked"

#: Closes one socket with 4401; the argument is the close reason.
Closer = Callable[[str], None]
_Key = tuple[str, str]  # ("session", id) or ("key", id)


class RevocationIndex:
    """This node's admitted sockets by the session and the API key they were admitted with."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_key: dict[_Key, dict[Connection, Closer]] = {}
        self._keys_of: dict[Connection, tuple[_Key, ...]] = {}
        self._recent: OrderedDict[_Key, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys_of)

    def track(self, connection: Connection, identity: Identity, close: Closer) -> bool:
        """Record the socket under its identity (replacing what it had: a socket re-authenticates
        with a new token). False, and the socket closed, when that credential was just revoked."""
        self.forget(connection)
        connection.identity = identity
        keys = _keys(identity)
        if not keys:
            return True  # a token that names no session nor key: nothing can revoke it but expiry
        revoked = self._revoked_recently(keys)
        if revoked is not None:
            close(_reason(revoked))
            return False
        self._keys_of[connection] = keys
        for key in keys:
            self._by_key.setdefault(key, {})[connection] = close
        return True

    def forget(self, connection: Connection) -> None:
        """The socket is gone (or re-authenticated): no longer tracked. Idempotent."""
        for key in self._keys_of.pop(connection, ()):
            holders = self._by_key.get(key)
            if holders is not None:
                holders.pop(connection, None)
                if not holders:
                    del self._by_key[key]

    def revoke(self, revoked: Revoked) -> int:
        """Close every tracked socket admitted with a revoked session or key; how many closed."""
        keys = [("session", sid) for sid in revoked.session_ids] + [("key", kid) for kid in revoked.key_ids]
        self._remember(keys)
        closed = 0
        for key in keys:
            for connection, close in list(self._by_key.get(key, {}).items()):
                self.forget(connection)
                try:
                    close(_reason(key))
                except Exception:  # one socket's failure must not keep the others open
                    logger.exception("could not close a revoked connection")
                closed += 1
        if closed:
            logger.info("closed %d socket(s) of revoked credentials", closed)
        return closed

    def _remember(self, keys: list[_Key]) -> None:
        now = self._clock()
        for key in keys:
            self._recent[key] = now
            self._recent.move_to_end(key)
        while self._recent and (
            len(self._recent) > RECENT_MAX or next(iter(self._recent.values())) < now - RECENT_SECONDS
        ):
            self._recent.popitem(last=False)

    def _revoked_recently(self, keys: tuple[_Key, ...]) -> _Key | None:
        horizon = self._clock() - RECENT_SECONDS
        for key in keys:
            at = self._recent.get(key)
            if at is not None and at >= horizon:
                return key
        return None


def _keys(identity: Identity) -> tuple[_Key, ...]:
    keys: list[_Key] = []
    if identity.session_id is not None:
        keys.append(("session", identity.session_id))
    if identity.key_id is not None:
        keys.append(("key", identity.key_id))
    return tuple(keys)


def _reason(key: _Key) -> str:
    return SESSION_ENDED if key[0] == "session" else KEY_REVOKED
