"""Login sessions and their refresh tokens (PROTOCOL §5.1).

A refresh token is an opaque random string, stored only as its sha256 and replaced on every
use. A spent token is kept (hashed) until its session goes; presenting it again ends the whole
session, since either the thief or the owner is replaying it (RFC 6819 §5.2.2.3, OAuth 2.0
Security BCP §4.14). The exchange is one conditional UPDATE on the hash in force, so of two
refreshes racing with one token exactly one wins.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import AuthSession, SpentRefreshToken, User
from ..errors import InvalidRefreshToken, NotFound, Unauthorized
from ..security.tokens import TokenService
from ..timeutil import ensure_utc, format_timestamp, utcnow
from .database import Database
from .views import user_view

logger = logging.getLogger(__name__)

#: Called after sessions ended, with their user and ids: the real-time layer closes their sockets.
SessionsEnded = Callable[[str, Sequence[str]], Awaitable[None]]

# Refresh tokens carry a prefix so that a scanner (or a log filter) can recognise one.
REFRESH_PREFIX = "trr_"
USER_AGENT_MAX = 256

_LIVE_SESSION = (
    select(AuthSession.id)
    .join(User, User.id == AuthSession.user_id)
    .where(
        AuthSession.id == bindparam("session_id"),
        AuthSession.user_id == bindparam("user_id"),
        AuthSession.ended_at.is_(None),
    )
)
_USER_EXISTS = select(User.id).where(User.id == bindparam("user_id"))


def hash_refresh_token(token: str) -> str:
    # sha256, not a slow password hash: the token is 256 random bits, so there is nothing to
    # guess offline, and a fast hash keeps the lookup an indexed equality.
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


class Bearer(Protocol):
    """Who presented a token: an access token's claims, or the identity the edge admitted."""

    @property
    def user_id(self) -> str: ...

    @property
    def session_id(self) -> str | None: ...


@dataclass(slots=True)
class SessionService:
    db: Database
    tokens: TokenService
    refresh_ttl: timedelta
    _listeners: list[SessionsEnded] = field(default_factory=list)

    def on_sessions_ended(self, listener: SessionsEnded) -> None:
        """Call `listener(user_id, session_ids)` after sessions end (after the commit)."""
        self._listeners.append(listener)

    # --- starting and refreshing ----------------------------------------------------------------

    async def start(self, user: User, user_agent: str | None) -> dict[str, Any]:
        """A new session for a login or a registration: the login answer with its tokens."""
        refresh = new_refresh_token()
        now = utcnow()
        row = AuthSession(
            id=str(uuid.uuid4()),
            user_id=user.id,
            refresh_hash=hash_refresh_token(refresh),
            created_at=now,
            last_used_at=now,
            expires_at=now + self.refresh_ttl,
            user_agent=(user_agent or None) and user_agent[:USER_AGENT_MAX],
            ended_at=None,
        )
        async with self.db.transaction() as session:
            session.add(row)
        return self._answer(user, row.id, refresh)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Exchange a refresh token for new tokens; a spent one ends its session."""
        presented = hash_refresh_token(refresh_token)
        fresh = new_refresh_token()
        now = utcnow()
        async with self.db.transaction() as session:
            exchanged = (
                await session.execute(
                    update(AuthSession)
                    .where(
                        and_(
                            AuthSession.refresh_hash == presented,
                            AuthSession.ended_at.is_(None),
                            AuthSession.expires_at > now,
                        )
                    )
                    .values(
                        refresh_hash=hash_refresh_token(fresh),
                        last_used_at=now,
                        expires_at=now + self.refresh_ttl,
                    )
                    .returning(AuthSession.id, AuthSession.user_id)
                )
            ).first()
            if exchanged is not None:
                session_id, user_id = exchanged
                user = await session.get(User, user_id)
                if user is not None:
                    session.add(SpentRefreshToken(token_hash=presented, session_id=session_id, spent_at=now))
                    return self._answer(user, session_id, fresh)
        reused = await self._end_if_spent(presented)
        if reused is not None:
            logger.warning("a spent refresh token was presented again: session %s ended", reused[1])
            await self._tell(reused[0], [reused[1]])
        raise InvalidRefreshToken("the refresh token is unknown, spent, expired or of an ended session")

    async def _end_if_spent(self, presented: str) -> tuple[str, str] | None:
        async with self.db.transaction() as session:
            spent = await session.get(SpentRefreshToken, presented)
            if spent is None:
                return None
            row = await session.get(AuthSession, spent.session_id)
            if row is None or row.ended_at is not None:
                return None
            row.ended_at = utcnow()
            return row.user_id, row.id

    # --- checking access tokens -----------------------------------------------------------------

    async def is_live(self, user_id: str, session_id: str) -> bool:
        """Whether the session is live and its account exists: one indexed read (the
        authenticator's check of a token that names a session)."""
        async with self.db.rows() as session:
            found = await session.execute(_LIVE_SESSION, {"session_id": session_id, "user_id": user_id})
            return found.first() is not None

    async def require_live(self, claims: Bearer) -> None:
        """401 unless the token's account exists and, when it names a session, that session is live.

        One indexed read per request. A token without `sid` (issued before sessions, or by
        `taskroom token`) is checked for its account only, and so lasts until it expires."""
        async with self.db.rows() as session:
            if claims.session_id is None:
                found = await session.execute(_USER_EXISTS, {"user_id": claims.user_id})
            else:
                found = await session.execute(
                    _LIVE_SESSION, {"session_id": claims.session_id, "user_id": claims.user_id}
                )
            if found.first() is None:
                raise Unauthorized("invalid token: its session ended or its account no longer exists")

    # --- listing and ending ---------------------------------------------------------------------

    async def list_live(self, claims: Bearer) -> list[dict[str, Any]]:
        now = utcnow()
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(AuthSession)
                    .where(AuthSession.user_id == claims.user_id, AuthSession.ended_at.is_(None))
                    .order_by(AuthSession.created_at)
                )
            ).all()
        return [
            {
                "id": row.id,
                "createdAt": format_timestamp(row.created_at),
                "lastUsedAt": format_timestamp(row.last_used_at),
                "userAgent": row.user_agent,
                "current": row.id == claims.session_id,
            }
            for row in rows
            if ensure_utc(row.expires_at) > now
        ]

    async def end(self, user_id: str, session_id: str) -> None:
        """End one of the user's sessions; another user's or an unknown one is a 404."""
        ended = await self._end_where(
            AuthSession.user_id == user_id, AuthSession.id == session_id, user_id=user_id
        )
        if not ended:
            raise NotFound("session not found")

    async def end_others(self, user_id: str, keep: str | None) -> list[str]:
        """End every session of the user but `keep` (all of them when None)."""
        condition = AuthSession.user_id == user_id
        if keep is None:
            return await self._end_where(condition, user_id=user_id)
        return await self._end_where(condition, AuthSession.id != keep, user_id=user_id)

    async def logout(self, claims: Bearer | None, refresh_token: str | None) -> None:
        """End the session of `refresh_token` (spent or in force), else that of the access token."""
        if refresh_token is not None:
            presented = hash_refresh_token(refresh_token)
            async with self.db.read() as session:
                row = await session.scalar(select(AuthSession).where(AuthSession.refresh_hash == presented))
                if row is None:
                    spent = await session.get(SpentRefreshToken, presented)
                    row = None if spent is None else await session.get(AuthSession, spent.session_id)
                target = None if row is None else (row.id, row.user_id)
            if target is not None:
                await self._end_where(AuthSession.id == target[0], user_id=target[1])
            return
        if claims is not None and claims.session_id is not None:
            await self._end_where(
                AuthSession.id == claims.session_id,
                AuthSession.user_id == claims.user_id,
                user_id=claims.user_id,
            )

    async def _end_where(self, *conditions: Any, user_id: str) -> list[str]:
        async with self.db.transaction() as session:
            ended = list(
                (
                    await session.scalars(
                        update(AuthSession)
                        .where(*conditions, AuthSession.ended_at.is_(None))
                        .values(ended_at=utcnow())
                        .returning(AuthSession.id)
                    )
                ).all()
            )
        if ended:
            await self._tell(user_id, ended)
        return ended

    async def _tell(self, user_id: str, session_ids: Sequence[str]) -> None:
        for listener in self._listeners:
            try:
                await listener(user_id, session_ids)
            except Exception:  # a listener's failure must not undo or fail the ending
                logger.exception("a sessions-ended listener failed")

    def _answer(self, user: User, session_id: str, refresh_token: str) -> dict[str, Any]:
        issued = self.tokens.issue(user.id, sid=session_id)
        return {
            "user": user_view(user),
            "accessToken": issued.token,
            "tokenType": "bearer",
            "expiresIn": issued.expires_in,
            "refreshToken": refresh_token,
            "refreshExpiresIn": int(self.refresh_ttl.total_seconds()),
        }


async def purge_ended_sessions(session: AsyncSession, older_than: timedelta) -> None:
    """Drop sessions ended or expired before `older_than` ago (their spent tokens go with them)."""
    cutoff = utcnow() - older_than
    await session.execute(
        delete(AuthSession).where(or_(AuthSession.ended_at < cutoff, AuthSession.expires_at < cutoff))
    )
