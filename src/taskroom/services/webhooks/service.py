"""The webhooks of a workspace as REST sees them (admin and owner only): create, read, edit, replay."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...db.models import Workspace
from ...db.webhook_models import Webhook, WebhookAttempt
from ...errors import Gone, InvalidField, NotFound
from ...schemas import Role
from ...timeutil import format_timestamp, utcnow
from ..access import require_role
from ..database import Database
from ..idempotency import AccessScope, IdempotencyKey
from ..writes import Reply, WriteOutcome, WriteRunner
from .addresses import RefusedAddress, check_destination
from .signing import new_secret
from .store import ACTIVE


@dataclass(frozen=True, slots=True)
class NewWebhook:
    url: str
    events: Sequence[str] | None
    secret: str | None


@dataclass(frozen=True, slots=True)
class WebhookChange:
    url: str | None = None
    events: Sequence[str] | None = None
    events_set: bool = False  # `events: null` (every type) differs from no `events` at all
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookService:
    db: Database
    writes: WriteRunner
    allow_private: bool
    attempts_shown: int
    # Wakes this node's delivery loop (a replay or a new URL should not wait for the poll).
    wake: Callable[[], None] = lambda: None

    async def create(
        self, actor_id: str, workspace_id: str, data: NewWebhook, key: IdempotencyKey | None = None
    ) -> Reply:
        await self._require_admin(actor_id, workspace_id)
        await self._check_url(data.url)

        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            seq = await session.scalar(select(Workspace.seq).where(Workspace.id == workspace_id))
            now = utcnow()
            hook = Webhook(
                id=str(uuid.uuid4()),
                workspace_id=workspace_id,
                url=data.url,
                events=_event_list(data.events),
                secret=data.secret or new_secret(),
                status=ACTIVE,
                # Events from now on: a new hook does not receive the workspace's history (replay does).
                cursor=int(seq or 0),
                failures=0,
                created_at=now,
                updated_at=now,
            )
            session.add(hook)
            body = {**_view(hook), "secret": hook.secret}
            return WriteOutcome(201, body, scope=AccessScope(workspace_id, Role.ADMIN.value))

        return await self.writes.run(work, key)

    async def list(self, actor_id: str, workspace_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            hooks = await session.scalars(
                select(Webhook)
                .where(Webhook.workspace_id == workspace_id)
                .order_by(Webhook.created_at, Webhook.id)
            )
            return [_view(hook) for hook in hooks]

    async def get(self, actor_id: str, workspace_id: str, hook_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            hook = await _hook(session, workspace_id, hook_id)
            attempts = await session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.webhook_id == hook.id)
                .order_by(WebhookAttempt.id.desc())
                .limit(self.attempts_shown)
            )
            return {**_view(hook), "attempts": [_attempt_view(a) for a in attempts]}

    async def update(
        self,
        actor_id: str,
        workspace_id: str,
        hook_id: str,
        change: WebhookChange,
        key: IdempotencyKey | None = None,
    ) -> Reply:
        await self._require_admin(actor_id, workspace_id)
        if change.url is not None:
            await self._check_url(change.url)

        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            hook = await _hook(session, workspace_id, hook_id)
            if change.url is not None:
                hook.url = change.url
            if change.events_set:
                hook.events = _event_list(change.events)
            if change.secret is not None:
                hook.secret = change.secret
            hook.updated_at = utcnow()
            # A node delivering with the old settings stops at its next step (its lease is gone).
            hook.lease_owner = hook.lease_until = None
            return WriteOutcome(200, _view(hook), scope=AccessScope(workspace_id, Role.ADMIN.value))

        reply = await self.writes.run(work, key)
        self.wake()
        return reply

    async def delete(
        self, actor_id: str, workspace_id: str, hook_id: str, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            await session.delete(await _hook(session, workspace_id, hook_id))
            return WriteOutcome(204, None, scope=AccessScope(workspace_id, Role.ADMIN.value))

        return await self.writes.run(work, key)

    async def replay(
        self,
        actor_id: str,
        workspace_id: str,
        hook_id: str,
        since_seq: int,
        key: IdempotencyKey | None = None,
    ) -> Reply:
        """Send again every event after `since_seq`, and make a failing hook active again."""

        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            hook = await _hook(session, workspace_id, hook_id)
            row = (
                await session.execute(
                    select(Workspace.seq, Workspace.log_floor).where(Workspace.id == workspace_id)
                )
            ).one()
            if since_seq < row.log_floor:
                raise Gone(f"events up to seq {row.log_floor} are no longer retained")
            # Past the head there is nothing to send again: the hook simply goes on from the head.
            hook.cursor = min(since_seq, int(row.seq))
            hook.status = ACTIVE
            hook.failures = 0
            hook.failing_since = hook.next_attempt_at = None
            hook.lease_owner = hook.lease_until = None
            hook.updated_at = utcnow()
            return WriteOutcome(200, _view(hook), scope=AccessScope(workspace_id, Role.ADMIN.value))

        reply = await self.writes.run(work, key)
        self.wake()
        return reply

    async def _require_admin(self, actor_id: str, workspace_id: str) -> None:
        # Before the URL is resolved: a non-admin learns nothing, not even whether a name resolves.
        async with self.db.read() as session:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)

    async def _check_url(self, url: str) -> None:
        try:
            await check_destination(url, self.allow_private)
        except RefusedAddress as exc:
            raise InvalidField("url", str(exc)) from exc


async def _hook(session: AsyncSession, workspace_id: str, hook_id: str) -> Webhook:
    hook = await session.get(Webhook, hook_id)
    # Another workspace's hook answers as if it did not exist.
    if hook is None or hook.workspace_id != workspace_id:
        raise NotFound("webhook not found")
    return hook


def _event_list(events: Sequence[str] | None) -> list[str] | None:
    return None if events is None else sorted(set(events))


def _time(value: Any) -> str | None:
    return None if value is None else format_timestamp(value)


def _view(hook: Webhook) -> dict[str, Any]:
    """A hook without its secret: the secret is shown once, when the hook is created."""
    return {
        "id": hook.id,
        "workspaceId": hook.workspace_id,
        "url": hook.url,
        "events": hook.events,
        "status": hook.status,
        "lastDeliveredSeq": int(hook.cursor),
        "failures": int(hook.failures),
        "failingSince": _time(hook.failing_since),
        "nextAttemptAt": _time(hook.next_attempt_at),
        "createdAt": _time(hook.created_at),
        "updatedAt": _time(hook.updated_at),
    }


def _attempt_view(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "seq": int(attempt.seq),
        "eventId": attempt.event_id,
        "attemptedAt": _time(attempt.attempted_at),
        "ok": attempt.ok,
        "statusCode": attempt.status_code,
        "error": attempt.error,
    }
