"""Registration, login and the current user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import User
from ..errors import AlreadyExists, Forbidden, InvalidCredentials, NotFound, TooManyRequests
from ..schemas import LoginIn, PasswordChangeIn, RegisterIn
from ..security.login_throttle import LoginThrottle
from ..security.passwords import PasswordService
from ..security.tokens import TokenService
from ..timeutil import utcnow
from .database import Database
from .sessions import SessionService

_USER_EXISTS = select(User.id).where(User.id == bindparam("user_id"))


@dataclass(frozen=True, slots=True)
class UserService:
    db: Database
    passwords: PasswordService
    tokens: TokenService
    throttle: LoginThrottle
    sessions: SessionService

    async def register(self, data: RegisterIn, user_agent: str | None = None) -> dict[str, Any]:
        # A taken email is refused before the expensive hash (409 tells anyway, so no timing to hide).
        async with self.db.transaction() as session:
            if await _email_taken(session, data.email):
                raise AlreadyExists("an account with this email already exists")
        password_hash = await self.passwords.hash(data.password)
        user = User(
            id=str(uuid.uuid4()),
            email=data.email,
            name=data.name,
            password_hash=password_hash,
            created_at=utcnow(),
        )
        try:
            async with self.db.transaction() as session:
                if await _email_taken(session, data.email):  # registered while we hashed
                    raise AlreadyExists("an account with this email already exists")
                session.add(user)
        except IntegrityError as exc:  # a concurrent registration of the same email
            raise AlreadyExists("an account with this email already exists") from exc
        return await self.sessions.start(user, user_agent)

    async def login(self, data: LoginIn, client: str, user_agent: str | None = None) -> dict[str, Any]:
        attempt = await self.throttle.attempt(data.email, client)  # a failure until it succeeds
        if attempt.retry_after is not None:
            raise TooManyRequests("too many failed logins; try again later", retry_after=attempt.retry_after)
        async with self.db.read() as session:
            user = await session.scalar(select(User).where(User.email == data.email))
        # An API key's service user has no password and never logs in (PROTOCOL §5.3).
        hashed = user.password_hash if user is not None and user.kind != "service" else None
        if not await self.passwords.verify(hashed, data.password) or user is None:
            raise InvalidCredentials("wrong email or password")
        await self.throttle.succeeded(attempt)
        return await self.sessions.start(user, user_agent)

    async def change_password(
        self, user_id: str, session_id: str | None, data: PasswordChangeIn, client: str
    ) -> None:
        """Set a new password and end every other session of the user.

        A wrong current password is 403, not 401: the caller's token is fine, and a 401 would tell
        clients to sign in again. Attempts count against the login throttle, so a stolen access
        token cannot be used to guess the password."""
        user = await self.get(user_id)
        attempt = await self.throttle.attempt(user.email, client)
        if attempt.retry_after is not None:
            raise TooManyRequests(
                "too many failed attempts; try again later", retry_after=attempt.retry_after
            )
        if not await self.passwords.verify(user.password_hash, data.current_password):
            raise Forbidden("the current password is wrong")
        await self.throttle.succeeded(attempt)
        new_hash = await self.passwords.hash(data.new_password)
        async with self.db.transaction() as session:
            stored = await session.get(User, user_id)
            if stored is None:
                raise NotFound("user not found")
            stored.password_hash = new_hash
        await self.sessions.end_others(user_id, keep=session_id)

    async def exists(self, user_id: str) -> bool:
        """Whether the account is there: a token outlives an account deleted behind its back."""
        async with self.db.rows() as session:
            return (await session.execute(_USER_EXISTS, {"user_id": user_id})).first() is not None

    async def get(self, user_id: str) -> User:
        async with self.db.read() as session:
            user = await session.get(User, user_id)
        if user is None:
            raise NotFound("user not found")
        return user

    async def create(self, email: str, password: str, name: str) -> User:
        """For the `taskroom user create` command."""
        data = RegisterIn(email=email, password=password, name=name)
        await self.register(data)
        async with self.db.transaction() as session:
            user = await session.scalar(select(User).where(User.email == data.email))
        assert user is not None
        return user


async def _email_taken(session: AsyncSession, email: str) -> bool:
    return await session.scalar(select(User.id).where(User.email == email)) is not None
