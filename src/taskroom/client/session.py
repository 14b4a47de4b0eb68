"""The tokens of one sign-in and their renewal (PROTOCOL.md §5.1), for `TaskroomAPI`.

A session holds an access token, the refresh token that renews it, and when the access token
expires. It renews a little before expiry, and on demand when the server refused the access
token. The server spends a refresh token on its first use and ends the whole session when it
sees it again, so two renewals must never send the same one: every renewal goes through one
lock, and the exchange itself runs as a task of its own that a cancelled caller does not stop
(a request cancelled in flight may already have spent the token; its answer must still be kept).

No I/O here: `exchange(refresh_token)` (given by `TaskroomAPI`) does the HTTP request and
returns the answer's body, or raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .tokens import TokenUnavailable

#: ``exchange(refresh_token)``: POST /auth/refresh; returns the body, or raises.
Exchange = Callable[[str], Awaitable[Mapping[str, Any]]]

# JWT `exp` is whole seconds (iat rounded down plus the lifetime), so a token can end up to a
# second before `expiresIn` says: count from one second less.
_EXP_ROUNDING = 1.0


@dataclass(frozen=True)
class Tokens:
    """What a login, register or refresh answer gave. ``expires_at`` is on the monotonic clock
    (None: the server did not say); ``lifetime`` is what was left of it when received."""

    access_token: str
    refresh_token: str | None
    expires_at: float | None
    lifetime: float | None

    @classmethod
    def from_answer(cls, body: Mapping[str, Any], sent_at: float) -> Tokens:
        """`body` of a login, register or refresh answer; `sent_at` when its request left (the
        monotonic clock), so that the time on the wire is counted against the token."""
        access = body.get("accessToken")
        if not isinstance(access, str) or not access:
            raise ValueError("the answer carries no access token")
        refresh = body.get("refreshToken")
        expires_in = body.get("expiresIn")
        lifetime: float | None = None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            lifetime = max(0.0, float(expires_in) - _EXP_ROUNDING)
        return cls(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=None if lifetime is None else sent_at + lifetime,
            lifetime=lifetime,
        )

    def due(self, now: float, margin: float) -> bool:
        """Whether to renew now: within `margin` seconds of expiry, or past half the lifetime
        for tokens that live less than twice the margin (a 5-second token renews 2 s early)."""
        if self.expires_at is None or self.lifetime is None:
            return False
        return self.expires_at - now <= min(margin, self.lifetime / 2)


class Session:
    """The tokens of the current sign-in (none before ``start``, and after ``end``)."""

    def __init__(
        self, exchange: Exchange, margin: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if margin < 0:
            raise ValueError("the refresh margin must not be negative")
        self._exchange = exchange
        self._margin = margin
        self._clock = clock
        self._tokens: Tokens | None = None
        self._lock = asyncio.Lock()
        self._renewal: asyncio.Task[Tokens] | None = None

    @property
    def tokens(self) -> Tokens | None:
        return self._tokens

    def start(self, body: Mapping[str, Any], sent_at: float) -> Tokens:
        """Keep the tokens of a login or register answer (replacing any held)."""
        self._tokens = Tokens.from_answer(body, sent_at)
        return self._tokens

    def end(self) -> None:
        self._tokens = None

    async def end_with(self, farewell: Callable[[Tokens], Awaitable[None]]) -> None:
        """Run `farewell(tokens)` (the server's logout) while no renewal is under way, so it
        presents the newest refresh token, then forget the tokens. If `farewell` raises, the
        tokens are kept (the session may still be live on the server)."""
        async with self._lock:
            await self.settle()
            tokens = self._tokens
            if tokens is None:
                return
            await farewell(tokens)
            self._tokens = None

    def now(self) -> float:
        return self._clock()

    async def settle(self) -> None:
        """Wait for a renewal under way, if any, whatever its outcome."""
        renewal = self._renewal
        if renewal is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(renewal)

    async def access_token(self) -> str | None:
        """The access token, renewed first when due (and renewable); None when signed out."""
        tokens = self._tokens
        if tokens is None:
            return None
        if tokens.refresh_token is not None and tokens.due(self._clock(), self._margin):
            return await self.renew(tokens.access_token)
        return tokens.access_token

    def mark_refused(self, access_token: str) -> None:
        """The server refused `access_token`: the next ``access_token()`` renews it (if it is
        still the one held; a newer one is left alone)."""
        tokens = self._tokens
        if tokens is not None and tokens.access_token == access_token:
            self._tokens = dataclasses.replace(tokens, expires_at=float("-inf"))

    async def renew(self, stale: str) -> str | None:
        """Renew the session unless another caller already replaced `stale`, and return the
        access token to use now (None: signed out). Raises what the exchange raised: a
        `TokenUnavailable` (the refresh token was refused) also ends the session; after any
        other failure (the server unreachable) the tokens are kept for a later try."""
        async with self._lock:
            tokens = self._tokens
            if tokens is None:
                return None
            if tokens.access_token != stale or tokens.refresh_token is None:
                return tokens.access_token  # renewed meanwhile, or cannot be
            renewal = self._renewal
            if renewal is None:
                renewal = asyncio.get_running_loop().create_task(self._renew(tokens.refresh_token))
                renewal.add_done_callback(_retrieve)
                self._renewal = renewal
            # Shielded: a caller cancelled here leaves the exchange to finish and keep its
            # answer; the next caller takes the lock, finds the task, and waits for it too.
            fresh = await asyncio.shield(renewal)
            return fresh.access_token

    async def _renew(self, refresh_token: str) -> Tokens:
        try:
            sent_at = self._clock()
            body = await self._exchange(refresh_token)
            tokens = Tokens.from_answer(body, sent_at)
            if self._holds(refresh_token):
                self._tokens = tokens  # not if signed out, or in again, meanwhile
            return tokens
        except TokenUnavailable:
            if self._holds(refresh_token):
                self._tokens = None
            raise
        finally:
            self._renewal = None

    def _holds(self, refresh_token: str) -> bool:
        return self._tokens is not None and self._tokens.refresh_token == refresh_token


def _retrieve(task: asyncio.Task[Tokens]) -> None:
    # Every caller may have been cancelled: the failure is theirs to see, not asyncio's to log.
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()
