"""The users of the app's own identity provider (PROTOCOL §5.2): one per (`iss`, `sub`).

A user is created the first time a verified token names its pair, and its profile follows the
token's `email` and `name` claims on every later use. It has no password (an empty hash, which
`PasswordService.verify` never accepts), so `POST /auth/login` never succeeds for it.

An email is unique among all users. A claimed email that another account already has is not
taken over: the user keeps the email it has, or, when created, gets one of its own under the
reserved `.invalid` domain (`<user id>@external.invalid`), which no one can register or receive
mail at. It takes the claimed email later, once that is free.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import ExternalIdentity, User
from ..schemas import Email, PersonName
from ..timeutil import utcnow
from .database import Database

# The account of an external user: never a valid argon2 hash, so no password ever verifies.
NO_PASSWORD = ""
SYNTHETIC_EMAIL_DOMAIN = "external.invalid"
# A race lost on a unique constraint (the pair, or an email) is retried; the retry finds the
# winner's rows. More than a few losses in a row means something else is wrong.
_ATTEMPTS = 3

_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_NAME: TypeAdapter[str] = TypeAdapter(PersonName)


@dataclass(frozen=True, slots=True)
class _Profile:
    email: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class ExternalIdentityService:
    db: Database

    async def user_for(self, issuer: str, subject: str, email: str | None, name: str | None) -> str:
        """The id of the user the pair names, created on first use; its email and name updated
        to the claims' when they changed. Safe against concurrent first uses of one pair."""
        profile = _Profile(_valid(_EMAIL, email), _valid(_NAME, name))
        for attempt in range(_ATTEMPTS):
            try:
                return await self._user_for(issuer, subject, profile)
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _user_for(self, issuer: str, subject: str, profile: _Profile) -> str:
        changes: dict[str, Any] = {}
        async with self.db.read() as session:
            known = await _linked_user(session, issuer, subject)
            if known is not None:
                changes = await _profile_changes(session, known, profile)
        if known is None:
            return await self._create(issuer, subject, profile)
        if changes:
            # A concurrent taker of the email fails this on the unique email; the retry sees it taken.
            async with self.db.transaction() as session:
                await session.execute(update(User).where(User.id == known.id).values(**changes))
        return known.id

    async def _create(self, issuer: str, subject: str, profile: _Profile) -> str:
        user_id = str(uuid.uuid4())
        async with self.db.transaction() as session:
            known = await _linked_user(session, issuer, subject)  # created while we looked
            if known is not None:
                return known.id
            email = profile.email
            if email is None or await _email_taken(session, email, excluding=None):
                email = f"{user_id}@{SYNTHETIC_EMAIL_DOMAIN}"
            now = utcnow()
            session.add(
                User(
                    id=user_id,
                    email=email,
                    name=profile.name or _name_from(profile.email, subject),
                    password_hash=NO_PASSWORD,
                    created_at=now,
                )
            )
            await session.flush()  # the user's row before the row that refers to it
            session.add(ExternalIdentity(issuer=issuer, subject=subject, user_id=user_id, created_at=now))
        return user_id


@dataclass(frozen=True, slots=True)
class _Linked:
    id: str
    email: str
    name: str


async def _linked_user(session: AsyncSession, issuer: str, subject: str) -> _Linked | None:
    row = (
        await session.execute(
            select(User.id, User.email, User.name)
            .join(ExternalIdentity, ExternalIdentity.user_id == User.id)
            .where(ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject)
        )
    ).first()
    return None if row is None else _Linked(row.id, row.email, row.name)


async def _profile_changes(session: AsyncSession, user: _Linked, profile: _Profile) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if profile.name is not None and profile.name != user.name:
        changes["name"] = profile.name
    if (
        profile.email is not None
        and profile.email != user.email
        and not await _email_taken(session, profile.email, excluding=user.id)
    ):
        changes["email"] = profile.email
    return changes


async def _email_taken(session: AsyncSession, email: str, excluding: str | None) -> bool:
    query = select(User.id).where(User.email == email)
    if excluding is not None:
        query = query.where(User.id != excluding)
    return await session.scalar(query) is not None


def _valid(adapter: TypeAdapter[str], value: str | None) -> str | None:
    """The claim as the REST API would store it, or None when it is not a valid one."""
    if value is None:
        return None
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _name_from(email: str | None, subject: str) -> str:
    """A name for a token without a usable `name` claim: the email's local part, else the subject."""
    fallback = email.split("@", 1)[0] if email else subject
    return _valid(_NAME, fallback[:200]) or "User"
