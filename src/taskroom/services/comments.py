"""Comments on a task (PROTOCOL §7): add, list oldest first, edit and delete, each write with its
event in the workspace log (`task_id` on the row, so the task's activity lists it).

A comment lives and dies with its task: a trashed task's comments answer 404 like the task (every
lookup goes through the live task), come back with a restore, and go when the trash is emptied.
`@{userId}` in a body mentions that user when they are a member of the workspace; anything else
between the braces is left as text. A mention, and a comment on a task someone is assigned to,
notify that user (services/notifications.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Comment, Member, Task
from ..errors import Forbidden, InvalidField, NotFound
from ..schemas import ROLE_RANK, CommentOut, Role
from ..timeutil import ensure_utc, utcnow
from ..wire import MessageType
from .access import require_role
from .database import Database
from .idempotency import AccessScope, IdempotencyKey
from .log import WorkspaceLog
from .notifications import notify
from .task_pages import MAX_CURSOR_CHARS
from .tasks import visible_task
from .writes import Reply, UserNotice, WriteOutcome, WriteRunner

DEFAULT_COMMENT_LIMIT = 50
MAX_COMMENT_LIMIT = 200

# `@{` + an id + `}`: the id as stored (no braces, no whitespace, at most 64 characters).
_MENTION = re.compile(r"@\{([^{}\s]{1,64})\}")


def mentioned_ids(body: str) -> list[str]:
    """The ids a body names with `@{id}`, each once, in the order they first appear."""
    return list(dict.fromkeys(_MENTION.findall(body)))


def comment_view(comment: Comment) -> dict[str, Any]:
    return CommentOut.model_validate(comment, from_attributes=True).wire()


@dataclass(frozen=True, slots=True)
class CommentKey:
    """Where a page of comments ended: the last one's creation time and id."""

    created_at: datetime
    comment_id: str

    def encode(self) -> str:
        raw = json.dumps({"c": self.created_at.isoformat(), "i": self.comment_id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode_comment_cursor(cursor: str) -> CommentKey:
    """The key a comments `nextCursor` names; 422 naming `cursor` for anything else."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        fields: Any = json.loads(raw)
        if not isinstance(fields, dict) or set(fields) != {"c", "i"}:
            raise ValueError("not a key")
        comment_id, created = fields["i"], fields["c"]
        if not isinstance(comment_id, str) or not 0 < len(comment_id) <= 64 or "\x00" in comment_id:
            raise ValueError("not a key")
        if not isinstance(created, str):
            raise ValueError("not a key")
        created_at = ensure_utc(datetime.fromisoformat(created))
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidField(
            "cursor", "is not a cursor of this list: pass a nextCursor unchanged, or none to start again"
        ) from None
    return CommentKey(created_at, comment_id)


@dataclass(frozen=True, slots=True)
class CommentPage:
    items: list[dict[str, Any]]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True, slots=True)
class CommentService:
    db: Database
    log: WorkspaceLog
    writes: WriteRunner

    async def list(self, user_id: str, task_id: str, limit: int, cursor: str | None) -> CommentPage:
        """One page of the task's comments, oldest first (viewer and up)."""
        after = decode_comment_cursor(cursor) if cursor is not None else None
        query = select(Comment).where(Comment.task_id == task_id)
        if after is not None:
            query = query.where(
                or_(
                    Comment.created_at > after.created_at,
                    and_(Comment.created_at == after.created_at, Comment.id > after.comment_id),
                )
            )
        query = query.order_by(Comment.created_at, Comment.id).limit(limit + 1)
        async with self.db.read() as session:
            await visible_task(session, task_id, user_id, Role.VIEWER)
            rows = (await session.scalars(query)).all()
        page = rows[:limit]
        next_key = CommentKey(ensure_utc(page[-1].created_at), page[-1].id) if len(rows) > limit else None
        return CommentPage([comment_view(c) for c in page], next_key.encode() if next_key else None)

    async def add(self, actor_id: str, task_id: str, body: str, key: IdempotencyKey | None = None) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            task = await _live_task_locked(session, self.log, task_id, actor_id)
            workspace_id = task.workspace_id
            mentions = await _members_among(session, workspace_id, mentioned_ids(body))
            comment = Comment(
                id=str(uuid.uuid4()),
                workspace_id=workspace_id,
                task_id=task.id,
                author_id=actor_id,
                body=body,
                mentions=mentions,
                created_at=utcnow(),
                edited_at=None,
            )
            session.add(comment)
            await session.flush()
            view = comment_view(comment)
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.COMMENT_ADDED,
                {"workspaceId": workspace_id, "taskId": task.id, "comment": view, "actorId": actor_id},
                task_id=task.id,
            )
            notices = await _mention_notices(session, mentions, workspace_id, task.id, actor_id)
            # The assignee hears of a comment on their task, unless it mentioned them already.
            if task.assignee_id is not None and task.assignee_id not in mentions:
                notice = await notify(session, task.assignee_id, "comment", workspace_id, task.id, actor_id)
                if notice is not None:
                    notices.append(notice)
            return WriteOutcome(201, view, [event], notices, scope=_member_of(workspace_id))

        return await self.writes.run(work, key)

    async def update(
        self, actor_id: str, comment_id: str, body: str, key: IdempotencyKey | None = None
    ) -> Reply:
        """A new body; members it mentions for the first time are notified."""

        async def work(session: AsyncSession) -> WriteOutcome:
            comment, task = await self._writable_comment(session, comment_id, actor_id)
            workspace_id = task.workspace_id
            if body == comment.body:
                return WriteOutcome(200, comment_view(comment), scope=_member_of(workspace_id))
            before = list(comment.mentions or [])
            mentions = await _members_among(session, workspace_id, mentioned_ids(body))
            comment.body = body
            comment.mentions = mentions
            comment.edited_at = utcnow()
            view = comment_view(comment)
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.COMMENT_UPDATED,
                {"workspaceId": workspace_id, "taskId": task.id, "comment": view, "actorId": actor_id},
                task_id=task.id,
            )
            fresh = [user for user in mentions if user not in before]
            notices = await _mention_notices(session, fresh, workspace_id, task.id, actor_id)
            return WriteOutcome(200, view, [event], notices, scope=_member_of(workspace_id))

        return await self.writes.run(work, key)

    async def delete(self, actor_id: str, comment_id: str, key: IdempotencyKey | None = None) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            comment, task = await self._writable_comment(session, comment_id, actor_id)
            workspace_id = task.workspace_id
            await session.delete(comment)
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.COMMENT_DELETED,
                {
                    "workspaceId": workspace_id,
                    "taskId": task.id,
                    "commentId": comment_id,
                    "actorId": actor_id,
                },
                task_id=task.id,
            )
            return WriteOutcome(204, None, [event], scope=_member_of(workspace_id))

        return await self.writes.run(work, key)

    async def _writable_comment(
        self, session: AsyncSession, comment_id: str, actor_id: str
    ) -> tuple[Comment, Task]:
        """The comment and its live task, under the workspace's write lock, when the actor may
        change it: its author (member and up) or an admin and up. 404 for a comment the actor
        cannot see (not a member, or its task in the trash), 403 for a member's other comments."""
        comment = await session.get(Comment, comment_id)
        if comment is None:
            raise NotFound("comment not found")
        try:
            task = await _live_task_locked(session, self.log, comment.task_id, actor_id)
        except NotFound:
            raise NotFound("comment not found") from None
        member = await require_role(session, task.workspace_id, actor_id, Role.MEMBER)
        if comment.author_id != actor_id and ROLE_RANK[Role(member.role)] < ROLE_RANK[Role.ADMIN]:
            raise Forbidden("only its author or an admin may change a comment")
        fresh = await session.scalar(
            select(Comment).where(Comment.id == comment_id).execution_options(populate_existing=True)
        )
        if fresh is None:
            raise NotFound("comment not found")
        return fresh, task


async def _live_task_locked(session: AsyncSession, log: WorkspaceLog, task_id: str, actor_id: str) -> Task:
    """The task (member and up, not in the trash), re-read under its workspace's write lock."""
    task = await visible_task(session, task_id, actor_id, Role.MEMBER)
    await log.lock(session, task.workspace_id)
    fresh = await session.scalar(
        select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    )
    if fresh is None or fresh.deleted_at is not None:
        raise NotFound("task not found")
    return fresh


async def _members_among(session: AsyncSession, workspace_id: str, user_ids: list[str]) -> list[str]:
    """Those of `user_ids` who are members of the workspace, in their order."""
    if not user_ids:
        return []
    found = set(
        (
            await session.scalars(
                select(Member.user_id).where(
                    Member.workspace_id == workspace_id, Member.user_id.in_(user_ids)
                )
            )
        ).all()
    )
    return [user for user in user_ids if user in found]


async def _mention_notices(
    session: AsyncSession, users: list[str], workspace_id: str, task_id: str, actor_id: str
) -> list[UserNotice]:
    notices = []
    for user in users:
        notice = await notify(session, user, "mention", workspace_id, task_id, actor_id)
        if notice is not None:
            notices.append(notice)
    return notices


def _member_of(workspace_id: str) -> AccessScope:
    """Every comment write needs the member role in the task's workspace, and so does its replay."""
    return AccessScope(workspace_id, Role.MEMBER.value)
