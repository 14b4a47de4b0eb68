"""The workspace event log: the source of truth for what every client must eventually receive."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Event, Workspace
from ..errors import Gone, NotFound
from ..events import LogEvent
from ..timeutil import format_timestamp, utcnow
from ..wire import MessageType, encode_server_frame
from .database import Reader


@dataclass(frozen=True, slots=True)
class LogPage:
    envelopes: list[str]
    latest_seq: int
    has_more: bool


# Every write runs these: built once (building a statement costs about as much as running it).
_LOCK = select(Workspace.seq).where(Workspace.id == bindparam("workspace_id")).with_for_update()
_NEXT_SEQ = (
    update(Workspace)
    .where(Workspace.id == bindparam("workspace_id"))
    .values(seq=Workspace.seq + 1)
    .returning(Workspace.seq)
)


class WorkspaceLog:
    """Appends happen inside the caller's transaction, so an event exists exactly when its change does.

    `seq` is taken by incrementing `workspaces.seq` in place: the row lock that update takes is
    held until commit, so writers of one workspace queue behind each other and seq order is
    commit order — no two events share a seq and no committed seq is ever skipped.
    """

    async def append(
        self,
        session: AsyncSession,
        workspace_id: str,
        event_type: MessageType,
        data: Mapping[str, Any],
        *,
        subject_user_id: str | None = None,
        task_id: str | None = None,
        at: datetime | None = None,
        seq: int | None = None,
    ) -> LogEvent:
        """Append one event; pass `seq` when it was already taken with `next_seq` (to put it in the
        data), and `task_id` for an event about a task (what its activity is read by)."""
        if seq is None:
            seq = await self.next_seq(session, workspace_id)
        now = at or utcnow()
        event_id = str(uuid.uuid4())
        envelope = encode_server_frame(
            event_type, data, seq=seq, event_id=event_id, timestamp=format_timestamp(now)
        )
        session.add(
            Event(
                workspace_id=workspace_id,
                seq=seq,
                event_id=event_id,
                type=event_type,
                envelope=envelope,
                subject_user_id=subject_user_id,
                task_id=task_id,
                created_at=now,
            )
        )
        return LogEvent(workspace_id, seq, event_id, event_type, envelope, subject_user_id)

    async def lock(self, session: AsyncSession, workspace_id: str) -> int:
        """Take the workspace's write lock without using a seq; returns the latest seq.

        On PostgreSQL a row lock; on SQLite every write transaction already holds the database
        lock from BEGIN IMMEDIATE, so the FOR UPDATE is left out by the dialect.
        """
        seq = await session.scalar(_LOCK, {"workspace_id": workspace_id})
        if seq is None:
            raise NotFound("workspace not found")
        return int(seq)

    async def next_seq(self, session: AsyncSession, workspace_id: str) -> int:
        result = await session.execute(_NEXT_SEQ, {"workspace_id": workspace_id})
        seq = result.scalar_one_or_none()
        if seq is None:
            raise NotFound("workspace not found")
        return int(seq)

    async def read(self, session: Reader, workspace_id: str, since: int, limit: int) -> LogPage:
        """Events with seq > since, oldest first; GONE when some of them were already pruned."""
        latest = await self._readable_from(session, workspace_id, since)
        rows = await self.read_range(session, workspace_id, since, latest, limit)
        last = rows[-1].seq if rows else since
        return LogPage(envelopes=[row.envelope for row in rows], latest_seq=latest, has_more=last < latest)

    async def replay(
        self, session: Reader, workspace_id: str, after: int, upto: int, limit: int
    ) -> list[LogEvent]:
        """Events with after < seq <= upto, at most `limit`; GONE when some were pruned."""
        await self._readable_from(session, workspace_id, after)
        return await self.read_range(session, workspace_id, after, upto, limit)

    async def read_range(
        self, session: Reader, workspace_id: str, after: int, upto: int, limit: int | None = None
    ) -> list[LogEvent]:
        """Events with after < seq <= upto, oldest first (no retention check: gap filling)."""
        rows = await session.execute(
            select(Event.seq, Event.event_id, Event.type, Event.envelope, Event.subject_user_id)
            .where(Event.workspace_id == workspace_id, Event.seq > after, Event.seq <= upto)
            .order_by(Event.seq)
            .limit(limit)
        )
        return [
            LogEvent(workspace_id, int(seq), event_id, MessageType(event_type), envelope, subject)
            for seq, event_id, event_type, envelope, subject in rows
        ]

    async def task_events(
        self,
        session: Reader,
        workspace_id: str,
        task_id: str,
        before: int | None,
        limit: int,
        types: Collection[str] | None = None,
    ) -> list[LogEvent]:
        """The task's events with seq < before (all when None), newest first, at most `limit`;
        only those of `types` when given. What has been pruned is simply not there."""
        query = select(Event.seq, Event.event_id, Event.type, Event.envelope, Event.subject_user_id).where(
            Event.workspace_id == workspace_id, Event.task_id == task_id
        )
        if before is not None:
            query = query.where(Event.seq < before)
        if types is not None:
            query = query.where(Event.type.in_(list(types)))
        rows = await session.execute(query.order_by(Event.seq.desc()).limit(limit))
        return [
            LogEvent(workspace_id, int(seq), event_id, MessageType(event_type), envelope, subject)
            for seq, event_id, event_type, envelope, subject in rows
        ]

    async def _readable_from(self, session: Reader, workspace_id: str, since: int) -> int:
        """The workspace's latest seq, if events after `since` are all still retained; else GONE."""
        row = (
            await session.execute(
                select(Workspace.seq, Workspace.log_floor).where(Workspace.id == workspace_id)
            )
        ).one_or_none()
        if row is None:
            raise NotFound("workspace not found")
        if since < row.log_floor:
            raise Gone(f"events up to seq {row.log_floor} are no longer retained; reload the workspace")
        return int(row.seq)

    async def latest_seqs(self, session: Reader, workspace_ids: Sequence[str]) -> dict[str, int]:
        if not workspace_ids:
            return {}
        rows = await session.execute(
            select(Workspace.id, Workspace.seq).where(Workspace.id.in_(list(workspace_ids)))
        )
        return {wid: int(seq) for wid, seq in rows}

    async def prune(self, session: AsyncSession, retention: timedelta) -> int:
        """Drop events older than the retention and raise each workspace's floor to match."""
        cutoff = utcnow() - retention
        floors = (
            await session.execute(
                select(Event.workspace_id, func.max(Event.seq))
                .where(Event.created_at < cutoff)
                .group_by(Event.workspace_id)
            )
        ).all()
        removed = 0
        for workspace_id, floor in floors:
            await session.execute(
                update(Workspace)
                .where(Workspace.id == workspace_id, Workspace.log_floor < floor)
                .values(log_floor=floor)
            )
            result = await session.execute(
                delete(Event).where(Event.workspace_id == workspace_id, Event.seq <= floor)
            )
            removed += int(getattr(result, "rowcount", 0) or 0)
        return removed


def decode_envelopes(envelopes: Sequence[str]) -> list[dict[str, Any]]:
    return [json.loads(envelope) for envelope in envelopes]
