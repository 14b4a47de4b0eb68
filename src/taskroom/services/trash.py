"""The trash of a workspace: tasks deleted and not yet restored or purged (PROTOCOL §7).

A trashed task keeps its row (`tasks.deleted_at` set), so its shared description and anything
else that refers to it come back with a restore; every read of the board filters it out
(`Task.live()`). The list pages by (deleted_at, id), latest first, with an opaque cursor like the
task list's. The node's periodic pruning deletes tasks trashed longer than TRASH_RETENTION_DAYS
for good, documents and all.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Comment, Notification, Task, TaskDocument, TaskDocumentUpdate
from ..errors import InvalidField
from ..schemas import TrashedTaskOut
from ..timeutil import ensure_utc, utcnow
from .task_pages import MAX_CURSOR_CHARS

DEFAULT_TRASH_LIMIT = 50
MAX_TRASH_LIMIT = 500


@dataclass(frozen=True, slots=True)
class TrashKey:
    """Where a page of the trash ended: the last task's deletion time and id."""

    deleted_at: datetime
    task_id: str

    def encode(self) -> str:
        raw = json.dumps({"d": self.deleted_at.isoformat(), "i": self.task_id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode_trash_cursor(cursor: str) -> TrashKey:
    """The key a trash `nextCursor` names; 422 naming `cursor` for anything else."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        fields: Any = json.loads(raw)
        if not isinstance(fields, dict) or set(fields) != {"d", "i"}:
            raise ValueError("not a key")
        task_id = fields["i"]
        if not isinstance(task_id, str) or not 0 < len(task_id) <= 64 or "\x00" in task_id:
            raise ValueError("not a key")
        if not isinstance(fields["d"], str):
            raise ValueError("not a key")
        deleted_at = ensure_utc(datetime.fromisoformat(fields["d"]))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidField(
            "cursor", "is not a cursor of this list: pass a nextCursor unchanged, or none to start again"
        ) from None
    return TrashKey(deleted_at, task_id)


async def read_trash_page(
    session: AsyncSession, workspace_id: str, limit: int, after: TrashKey | None
) -> tuple[Sequence[Task], TrashKey | None]:
    query = select(Task).where(Task.workspace_id == workspace_id, Task.deleted_at.is_not(None))
    if after is not None:
        query = query.where(
            or_(
                Task.deleted_at < after.deleted_at,
                and_(Task.deleted_at == after.deleted_at, Task.id < after.task_id),
            )
        )
    query = query.order_by(Task.deleted_at.desc(), Task.id.desc()).limit(limit + 1)
    tasks = (await session.scalars(query)).all()
    if len(tasks) <= limit:
        return tasks, None
    page = tasks[:limit]
    last = page[-1]
    assert last.deleted_at is not None  # the query reads trashed tasks only
    return page, TrashKey(ensure_utc(last.deleted_at), last.id)


def trashed_view(task: Task) -> dict[str, Any]:
    return TrashedTaskOut.model_validate(task, from_attributes=True).wire()


async def empty_trash(session: AsyncSession, retention: timedelta) -> int:
    """Delete for good the tasks trashed longer ago than the retention, with their documents,
    comments and notifications (named here rather than left to cascades: SQLite's depend on a
    pragma). Their events stay in the log until it is pruned in turn."""
    cutoff = utcnow() - retention
    expired = select(Task.id).where(Task.deleted_at.is_not(None), Task.deleted_at < cutoff)
    await session.execute(delete(Comment).where(Comment.task_id.in_(expired)))
    await session.execute(delete(Notification).where(Notification.task_id.in_(expired)))
    await session.execute(delete(TaskDocumentUpdate).where(TaskDocumentUpdate.task_id.in_(expired)))
    await session.execute(delete(TaskDocument).where(TaskDocument.task_id.in_(expired)))
    result = await session.execute(delete(Task).where(Task.deleted_at.is_not(None), Task.deleted_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
