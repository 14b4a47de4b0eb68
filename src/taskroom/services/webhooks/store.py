"""The delivery state of hooks in the database: claims (leases), cursors, failures and attempts.

Every change a delivering node makes is conditioned on still holding the hook's lease, so a node
whose lease was taken over (it stalled past WEBHOOK_LEASE_TIMEOUT, or the hook was replayed or
edited meanwhile) stops instead of moving a cursor it no longer owns.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ...db.models import Event, Workspace
from ...db.webhook_models import Webhook, WebhookAttempt
from ...timeutil import ensure_utc, utcnow
from ..database import Database

ACTIVE, FAILING = "active", "failing"


@dataclass(slots=True)
class Claim:
    """One hook this node delivers now, as it was when claimed (the lease keeps it so)."""

    id: str
    workspace_id: str
    url: str
    events: frozenset[str] | None
    secret: str
    cursor: int
    failures: int
    failing_since: datetime | None


@dataclass(frozen=True, slots=True)
class PendingEvent:
    seq: int
    event_id: str
    type: str
    envelope: str


@dataclass(frozen=True, slots=True)
class Attempt:
    seq: int
    event_id: str
    ok: bool
    status_code: int | None
    error: str | None


class DeliveryStore:
    def __init__(self, db: Database, node_id: str, lease: timedelta, attempts_kept: int) -> None:
        self._db = db
        self._node_id = node_id
        self._lease = lease
        self._attempts_kept = attempts_kept

    async def claim_due(self, limit: int, busy: Collection[str]) -> list[Claim]:
        """Lease up to `limit` active hooks that are behind their workspace's log and due.

        On PostgreSQL the rows are locked with SKIP LOCKED while the lease is written, so nodes
        claiming at the same moment take different hooks; a lease then keeps the hook this node's
        for the whole delivery, without a transaction held open across HTTP calls. SQLite has one
        writer (and one node), so its transaction alone serialises the claims.
        """
        if limit <= 0:
            return []
        now = utcnow()
        async with self._db.transaction() as session:
            query = (
                select(Webhook)
                .join(Workspace, Workspace.id == Webhook.workspace_id)
                .where(
                    Webhook.status == ACTIVE,
                    Workspace.seq > Webhook.cursor,
                    or_(Webhook.next_attempt_at.is_(None), Webhook.next_attempt_at <= now),
                    or_(Webhook.lease_until.is_(None), Webhook.lease_until < now),
                )
                .order_by(Webhook.next_attempt_at.is_not(None), Webhook.next_attempt_at, Webhook.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Webhook)
            )
            if busy:
                query = query.where(Webhook.id.not_in(list(busy)))
            hooks = list((await session.scalars(query)).all())
            for hook in hooks:
                hook.lease_owner = self._node_id
                hook.lease_until = now + self._lease
            return [
                Claim(
                    hook.id,
                    hook.workspace_id,
                    hook.url,
                    None if hook.events is None else frozenset(hook.events),
                    hook.secret,
                    int(hook.cursor),
                    int(hook.failures),
                    None if hook.failing_since is None else ensure_utc(hook.failing_since),
                )
                for hook in hooks
            ]

    async def pending(self, claim: Claim, limit: int) -> list[PendingEvent]:
        """The next events of the claimed hook's workspace after its cursor, oldest first."""
        async with self._db.read() as session:
            rows = await session.execute(
                select(Event.seq, Event.event_id, Event.type, Event.envelope)
                .where(Event.workspace_id == claim.workspace_id, Event.seq > claim.cursor)
                .order_by(Event.seq)
                .limit(limit)
            )
            return [
                PendingEvent(int(seq), event_id, kind, envelope) for seq, event_id, kind, envelope in rows
            ]

    async def advance(self, claim: Claim, seq: int, attempt: Attempt | None) -> bool:
        """Move the cursor to `seq` (delivered, or skipped by the filter) and renew the lease.

        False when this node no longer holds the lease: it must stop delivering this hook."""
        now = utcnow()
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Webhook)
                .where(self._owned(claim.id, now))
                .values(
                    cursor=seq,
                    failures=0,
                    failing_since=None,
                    next_attempt_at=None,
                    lease_until=now + self._lease,
                )
            )
            owned = _count(result) == 1
            if owned and attempt is not None:
                await self._record(session, claim.id, attempt, now)
        claim.cursor, claim.failures, claim.failing_since = seq, 0, None
        return owned

    async def fail(
        self, claim: Claim, attempt: Attempt, retry_in: timedelta, give_up_after: timedelta
    ) -> bool:
        """Count a failed attempt: retry after `retry_in`, or mark the hook failing past the window.

        Returns True when the hook is now `failing`."""
        now = utcnow()
        since = claim.failing_since or now
        gives_up = now - since >= give_up_after
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Webhook)
                .where(self._owned(claim.id, now))
                .values(
                    failures=claim.failures + 1,
                    failing_since=since,
                    next_attempt_at=None if gives_up else now + retry_in,
                    status=FAILING if gives_up else ACTIVE,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            if _count(result) == 1:
                await self._record(session, claim.id, attempt, now)
        return gives_up

    async def skip_pruned(self, claim: Claim) -> None:
        """Move the cursor up to the log's floor: events below it are gone and cannot be sent."""
        async with self._db.transaction() as session:
            floor = await session.scalar(
                select(Workspace.log_floor).where(Workspace.id == claim.workspace_id)
            )
            if floor is not None and floor > claim.cursor:
                await session.execute(
                    update(Webhook)
                    .where(self._owned(claim.id, utcnow()), Webhook.cursor < floor)
                    .values(cursor=floor)
                )

    async def release(self, hook_ids: Collection[str]) -> None:
        """Give up this node's leases on these hooks, so another node (or a later round) may go on."""
        if not hook_ids:
            return
        async with self._db.transaction() as session:
            await session.execute(
                update(Webhook)
                .where(Webhook.id.in_(list(hook_ids)), Webhook.lease_owner == self._node_id)
                .values(lease_owner=None, lease_until=None)
            )

    def _owned(self, hook_id: str, now: datetime) -> ColumnElement[bool]:
        return and_(
            Webhook.id == hook_id,
            Webhook.lease_owner == self._node_id,
            Webhook.lease_until.is_not(None),
            Webhook.lease_until >= now,
        )

    async def _record(self, session: AsyncSession, hook_id: str, attempt: Attempt, now: datetime) -> None:
        session.add(
            WebhookAttempt(
                webhook_id=hook_id,
                seq=attempt.seq,
                event_id=attempt.event_id,
                attempted_at=now,
                ok=attempt.ok,
                status_code=attempt.status_code,
                error=attempt.error,
            )
        )
        await session.flush()
        # A ring of the last few: older attempts are deleted as new ones come.
        oldest_kept = await session.scalar(
            select(WebhookAttempt.id)
            .where(WebhookAttempt.webhook_id == hook_id)
            .order_by(WebhookAttempt.id.desc())
            .offset(self._attempts_kept - 1)
            .limit(1)
        )
        if oldest_kept is not None:
            await session.execute(
                delete(WebhookAttempt).where(
                    WebhookAttempt.webhook_id == hook_id, WebhookAttempt.id < oldest_kept
                )
            )


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
