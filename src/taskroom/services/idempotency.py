"""Idempotency-Key: the first successful answer to a write is stored in that write's own transaction.

Storing it in the same transaction is what makes a replay safe even across a crash: either the
change and its stored answer both exist, or neither does. Two concurrent requests with one key
both run, but only one can insert the key; the other rolls back whole and replays the winner.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import IdempotencyRecord
from ..errors import IdempotencyKeyReused
from ..timeutil import ensure_utc, utcnow


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    user_id: str
    key: str
    fingerprint: str

    @staticmethod
    def for_request(user_id: str, key: str, method: str, path: str, body: bytes) -> IdempotencyKey:
        digest = hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()
        return IdempotencyKey(user_id=user_id, key=key, fingerprint=digest)


@dataclass(frozen=True, slots=True)
class StoredReply:
    status_code: int
    body: str


class IdempotencyStore:
    def __init__(self, ttl: timedelta) -> None:
        self._ttl = ttl

    async def find(self, session: AsyncSession, key: IdempotencyKey) -> StoredReply | None:
        record = await session.get(IdempotencyRecord, (key.user_id, key.key))
        if record is None:
            return None
        if ensure_utc(record.created_at) < utcnow() - self._ttl:
            await session.delete(record)
            await session.flush()
            return None
        if record.fingerprint != key.fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was already used for a different request")
        return StoredReply(record.status_code, record.body)

    async def save(self, session: AsyncSession, key: IdempotencyKey, reply: StoredReply) -> None:
        session.add(
            IdempotencyRecord(
                user_id=key.user_id,
                key=key.key,
                fingerprint=key.fingerprint,
                status_code=reply.status_code,
                body=reply.body,
                created_at=utcnow(),
            )
        )
        await session.flush()

    async def purge_expired(self, session: AsyncSession) -> None:
        await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - self._ttl)
        )
