"""Idempotency-Key: the first successful answer to a write is stored in that write's own transaction.

Storing it in the same transaction is what makes a replay safe even across a crash: either the
change and its stored answer both exist, or neither does. Two concurrent requests with one key
both run, but only one can insert the key; the other rolls back whole and replays the winner.

A request is the same when its method, path and body are: bodies are compared as JSON values
(key order and spacing do not matter), so a client that re-serializes its queue still replays.
"""

from __future__ import annotations

import hashlib
import json
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
        digest = hashlib.sha256(b"\n".join([method.encode(), path.encode(), _canonical(body)])).hexdigest()
        return IdempotencyKey(user_id=user_id, key=key, fingerprint=digest)


def _canonical(body: bytes) -> bytes:
    """The body as a JSON value in one spelling; a body that is not JSON is compared byte for byte."""
    if not body.strip():
        return b""
    try:
        value = json.loads(body)
    except ValueError:  # not JSON (or not UTF-8): validation refuses it anyway, nothing is stored
        return b"raw:" + body
    return b"json:" + json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class AccessScope:
    """The role in a workspace that a write needed, required again before its answer is replayed."""

    workspace_id: str
    role: str


@dataclass(frozen=True, slots=True)
class StoredReply:
    status_code: int
    body: str
    scope: AccessScope | None = None


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
        scope = None
        if record.workspace_id is not None and record.required_role is not None:
            scope = AccessScope(record.workspace_id, record.required_role)
        return StoredReply(record.status_code, record.body, scope)

    async def save(self, session: AsyncSession, key: IdempotencyKey, reply: StoredReply) -> None:
        session.add(
            IdempotencyRecord(
                user_id=key.user_id,
                key=key.key,
                fingerprint=key.fingerprint,
                status_code=reply.status_code,
                body=reply.body,
                created_at=utcnow(),
                workspace_id=reply.scope.workspace_id if reply.scope else None,
                required_role=reply.scope.role if reply.scope else None,
            )
        )
        await session.flush()

    async def purge_expired(self, session: AsyncSession) -> None:
        await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - self._ttl)
        )
