"""The one path every write takes: transaction, log append, idempotency record, commit, publish."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import ApiError
from ..events import LogEvent
from ..schemas import Role
from ..wire import MessageType
from .access import require_role
from .database import Database
from .idempotency import AccessScope, IdempotencyKey, IdempotencyStore, StoredReply
from .publisher import EventPublisher


@dataclass(frozen=True, slots=True)
class UserNotice:
    user_id: str
    envelope: str
    frame_type: MessageType  # the envelope's type, known where it was made: the counters need it
    join_workspace_id: str | None = None


@dataclass(slots=True)
class WriteOutcome:
    status_code: int
    body: Any = None  # JSON-ready; None for 204
    events: list[LogEvent] = field(default_factory=list)
    notices: list[UserNotice] = field(default_factory=list)
    # The workspace role this write needed; a replay of its answer requires it again.
    scope: AccessScope | None = None
    # Run after the commit, before the events are published: a deleted API key's sockets close
    # 4401 before its member's removal reaches them (services/api_keys.py).
    before_publish: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reply:
    status_code: int
    body: str  # JSON text, "" for 204
    replayed: bool = False


Work = Callable[[AsyncSession], Awaitable[WriteOutcome]]


class WriteRunner:
    def __init__(self, db: Database, idempotency: IdempotencyStore, publisher: EventPublisher) -> None:
        self._db = db
        self._idempotency = idempotency
        self._publisher = publisher

    async def run(self, work: Work, key: IdempotencyKey | None = None) -> Reply:
        try:
            return await self._run_once(work, key)
        except IntegrityError:
            if key is None:
                raise
            # Most likely a concurrent request with the same key won the insert: replay its answer.
            return await self._run_once(work, key)
        except ApiError:
            if key is None:
                raise
            # A concurrent request with the same key may have committed between our key lookup and
            # our work, and its effect is what refused ours (the member now exists, the task is
            # gone): the client must get that first answer, not an error caused by its own retry.
            replay = await self._replay(key)
            if replay is None:
                raise
            return replay

    async def _replay(self, key: IdempotencyKey) -> Reply | None:
        async with self._db.transaction() as session:
            return await self._stored_reply(session, key)

    async def _stored_reply(self, session: AsyncSession, key: IdempotencyKey) -> Reply | None:
        """The stored answer of `key`, if any, once the caller still holds the role the write needed.

        A caller removed from the workspace since gets NOT_FOUND and one demoted below the role
        FORBIDDEN, exactly as a new request would: a stored answer never outlives the access.
        """
        prior = await self._idempotency.find(session, key)
        if prior is None:
            return None
        if prior.scope is not None:
            await require_role(session, prior.scope.workspace_id, key.user_id, Role(prior.scope.role))
        return Reply(prior.status_code, prior.body, replayed=True)

    async def _run_once(self, work: Work, key: IdempotencyKey | None) -> Reply:
        async with self._db.transaction() as session:
            if key is not None:
                replay = await self._stored_reply(session, key)
                if replay is not None:
                    return replay
            outcome = await work(session)
            if outcome.events:
                heads: dict[str, int] = {}
                for event in outcome.events:
                    heads[event.workspace_id] = max(event.seq, heads.get(event.workspace_id, 0))
                await self._db.announce_commit(session, heads)
            body = "" if outcome.body is None else json.dumps(outcome.body, separators=(",", ":"))
            if key is not None:
                stored = StoredReply(outcome.status_code, body, outcome.scope)
                await self._idempotency.save(session, key, stored)
        # Committed. The log already holds the events; publishing is only the fast path.
        for step in outcome.before_publish:
            await step()
        if outcome.events:
            await self._publisher.publish_committed(outcome.events)
        for notice in outcome.notices:
            await self._publisher.notify_user(
                notice.user_id, notice.envelope, notice.frame_type, notice.join_workspace_id
            )
        return Reply(outcome.status_code, body)
