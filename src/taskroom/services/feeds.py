"""The reads the real-time layer needs from storage: memberships, log ranges, snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from ..db.models import Member, Task, User, Workspace
from ..errors import NotFound
from ..events import LogEvent
from .columns import Columns
from .database import Database
from .log import LogPage, WorkspaceLog
from .task_pages import MAX_LIMIT, PageKey, TaskFilters, read_page
from .views import task_view, workspace_view
from .workspaces import member_views

# Built once: every authentication runs it, and building the statement costs as much as running it.
_MEMBERSHIPS = (
    select(User.id, Member.workspace_id)
    .outerjoin(Member, Member.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)


_TASK_IN_WORKSPACE = select(Task.id).where(
    Task.id == bindparam("task_id"), Task.workspace_id == bindparam("workspace_id"), Task.live()
)


# The reset snapshot reads its tasks a REST page of the largest size at a time.
SNAPSHOT_PAGE = MAX_LIMIT
_EVERY_TASK = TaskFilters()


@dataclass(frozen=True, slots=True)
class WorkspaceFeeds:
    db: Database
    log: WorkspaceLog

    async def memberships(self, user_id: str) -> set[str] | None:
        """The workspaces the user belongs to; None when the account does not exist (any more)."""
        async with self.db.rows() as session:
            rows = (await session.execute(_MEMBERSHIPS, {"user_id": user_id})).all()
        if not rows:
            return None
        return {workspace_id for _, workspace_id in rows if workspace_id is not None}

    async def has_task(self, workspace_id: str, task_id: str) -> bool:
        async with self.db.rows() as session:
            params = {"task_id": task_id, "workspace_id": workspace_id}
            return (await session.execute(_TASK_IN_WORKSPACE, params)).first() is not None

    async def latest_seq(self, workspace_id: str) -> int | None:
        async with self.db.rows() as session:
            return (await self.log.latest_seqs(session, [workspace_id])).get(workspace_id)

    async def latest_seqs(self, workspace_ids: Sequence[str]) -> dict[str, int]:
        async with self.db.rows() as session:
            return await self.log.latest_seqs(session, workspace_ids)

    async def read_range(self, workspace_id: str, after: int, upto: int) -> list[LogEvent]:
        async with self.db.rows() as session:
            return await self.log.read_range(session, workspace_id, after, upto)

    async def replay(self, workspace_id: str, after: int, upto: int, limit: int) -> list[LogEvent]:
        """Raises Gone past the retention, NotFound for a deleted workspace."""
        async with self.db.rows() as session:
            return await self.log.replay(session, workspace_id, after, upto, limit)

    async def read_page(self, workspace_id: str, since: int, limit: int) -> LogPage:
        """Raises Gone past the retention, NotFound for a deleted workspace."""
        async with self.db.rows() as session:
            return await self.log.read(session, workspace_id, since, limit)

    async def snapshot(self, workspace_id: str, user_id: str) -> tuple[dict[str, Any], int]:
        """The whole workspace as the user sees it, consistent with the returned seq."""
        async with self.db.transaction() as session:
            # Under the write lock no change can commit between the reads below.
            seq = await self.log.lock(session, workspace_id)
            member = await session.get(Member, (workspace_id, user_id))
            workspace = await session.get(Workspace, workspace_id)
            if member is None or workspace is None:
                raise NotFound("workspace not found")
            head = {
                "workspace": workspace_view(workspace, member.role),
                "members": await member_views(session, workspace_id),
            }
            # In pages, so the rows of one page at a time are held, not every row of the workspace.
            tasks: list[dict[str, Any]] = []
            after: PageKey | None = None
            keys = Columns.stored(workspace.columns).keys
            while True:
                page, after = await read_page(session, workspace_id, keys, _EVERY_TASK, SNAPSHOT_PAGE, after)
                tasks.extend(task_view(t) for t in page)
                session.expunge_all()
                if after is None:
                    break
            return {**head, "tasks": tasks}, seq
