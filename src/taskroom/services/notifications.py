"""Notifications (PROTOCOL §7): a mention, an assignment, a comment on a task assigned to you.

Made inside the write that causes them, so one exists exactly when its cause does, and sent
after the commit to the user's own connections on every node as `NOTIFICATION` (a user notice,
the path `WORKSPACE_CREATED` takes). Never for the actor, and never for someone who is not a
member of the workspace when it is made. A user removed from a workspace no longer sees its old
ones: every read joins on the current membership, so adding them back shows them again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Member, Notification
from ..schemas import NotificationOut
from ..timeutil import utcnow
from ..wire import MessageType, encode_server_frame
from .database import Database
from .writes import UserNotice

Kind = Literal["mention", "assigned", "comment"]

DEFAULT_NOTIFICATION_LIMIT = 50
MAX_NOTIFICATION_LIMIT = 200


def notification_view(notification: Notification) -> dict[str, Any]:
    return NotificationOut.model_validate(notification, from_attributes=True).wire()


def _still_member() -> ColumnElement[bool]:
    """The notification's user is a member of its workspace now."""
    return exists().where(
        Member.workspace_id == Notification.workspace_id, Member.user_id == Notification.user_id
    )


async def unread_count(session: AsyncSession, user_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None), _still_member())
    )
    return int(count or 0)


async def notify(
    session: AsyncSession,
    user_id: str,
    kind: Kind,
    workspace_id: str,
    task_id: str | None,
    actor_id: str,
) -> UserNotice | None:
    """Make one notification in the caller's transaction; the notice to send after the commit.

    None, and nothing made, for the actor or a user who is not a member of the workspace."""
    if user_id == actor_id or await session.get(Member, (workspace_id, user_id)) is None:
        return None
    notification = Notification(
        id=str(uuid.uuid4()),
        user_id=user_id,
        kind=kind,
        workspace_id=workspace_id,
        task_id=task_id,
        actor_id=actor_id,
        created_at=utcnow(),
        read_at=None,
    )
    session.add(notification)
    await session.flush()
    frame = encode_server_frame(
        MessageType.NOTIFICATION,
        {
            "notification": notification_view(notification),
            "unreadCount": await unread_count(session, user_id),
        },
    )
    return UserNotice(user_id, frame, MessageType.NOTIFICATION)


@dataclass(frozen=True, slots=True)
class NotificationPage:
    items: list[dict[str, Any]]
    unread_count: int


@dataclass(frozen=True, slots=True)
class NotificationService:
    db: Database

    async def list(self, user_id: str, unread_only: bool, limit: int) -> NotificationPage:
        """The caller's notifications of workspaces they are still a member of, newest first."""
        query = select(Notification).where(Notification.user_id == user_id, _still_member())
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
        async with self.db.read() as session:
            rows = (await session.scalars(query)).all()
            return NotificationPage(
                [notification_view(n) for n in rows], await unread_count(session, user_id)
            )

    async def mark_read(self, user_id: str, ids: Sequence[str] | None) -> None:
        """Marks the caller's own notifications read (all when `ids` is None); ids of anyone
        else's, or unknown ones, change nothing. Marking one already read keeps its first time."""
        condition = and_(Notification.user_id == user_id, Notification.read_at.is_(None))
        if ids is not None:
            condition = and_(condition, Notification.id.in_(list(ids)))
        async with self.db.transaction() as session:
            await session.execute(update(Notification).where(condition).values(read_at=utcnow()))
