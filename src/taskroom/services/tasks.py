"""Tasks: create, edit with field-level merges, complete, move between and within columns, trash and restore."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Member, Task, Workspace
from ..errors import Conflict, InvalidField, NotFound
from ..schemas import Role, TaskCompleteIn, TaskIn, TaskMoveIn, TaskPatch
from ..timeutil import ensure_utc, utcnow
from ..wire import MessageType
from .access import require_role
from .columns import Columns
from .database import Database
from .idempotency import AccessScope, IdempotencyKey
from .log import WorkspaceLog
from .notifications import notify
from .positions import key_between
from .task_pages import TaskFilters, decode_cursor, read_page
from .task_search import decode_search_cursor, read_search_page
from .trash import decode_trash_cursor, read_trash_page, trashed_view
from .views import task_view
from .writes import Reply, UserNotice, WriteOutcome, WriteRunner

# Wire name -> column, for the fields a PATCH may change.
_EDITABLE = {
    "title": "title",
    "description": "description",
    "assigneeId": "assignee_id",
    "dueDate": "due_date",
    "priority": "priority",
    "labels": "labels",
}


@dataclass(frozen=True, slots=True)
class TaskPage:
    items: list[dict[str, Any]]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True, slots=True)
class TaskService:
    db: Database
    log: WorkspaceLog
    writes: WriteRunner

    # --- reads ---------------------------------------------------------------------------------

    async def list(
        self, user_id: str, workspace_id: str, filters: TaskFilters, limit: int, cursor: str | None
    ) -> TaskPage:
        """One page of the workspace's tasks: in board order (see task_pages), or best match first
        when `filters.q` is given (see task_search)."""
        if filters.q is not None:
            return await self._search(user_id, workspace_id, filters, limit, cursor)
        after = decode_cursor(cursor) if cursor is not None else None
        async with self.db.read() as session:
            await require_role(session, workspace_id, user_id, Role.VIEWER)
            columns = await workspace_columns(session, workspace_id)
            if filters.status is not None:
                columns.require(filters.status)
            tasks, next_key = await read_page(session, workspace_id, columns.keys, filters, limit, after)
            return TaskPage([task_view(t) for t in tasks], next_key.encode() if next_key else None)

    async def _search(
        self, user_id: str, workspace_id: str, filters: TaskFilters, limit: int, cursor: str | None
    ) -> TaskPage:
        after = decode_search_cursor(cursor) if cursor is not None else None
        async with self.db.read() as session:
            await require_role(session, workspace_id, user_id, Role.VIEWER)
            if filters.status is not None:
                (await workspace_columns(session, workspace_id)).require(filters.status)
            tasks, next_key = await read_search_page(session, workspace_id, filters, limit, after)
            return TaskPage([task_view(t) for t in tasks], next_key.encode() if next_key else None)

    async def trash(self, user_id: str, workspace_id: str, limit: int, cursor: str | None) -> TaskPage:
        """One page of the workspace's trash, the latest deleted first (see trash.py)."""
        after = decode_trash_cursor(cursor) if cursor is not None else None
        async with self.db.read() as session:
            await require_role(session, workspace_id, user_id, Role.VIEWER)
            tasks, next_key = await read_trash_page(session, workspace_id, limit, after)
            return TaskPage([trashed_view(t) for t in tasks], next_key.encode() if next_key else None)

    async def get(self, user_id: str, task_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            task = await visible_task(session, task_id, user_id, Role.VIEWER)
            return task_view(task)

    # --- writes --------------------------------------------------------------------------------

    async def create(
        self, actor_id: str, workspace_id: str, data: TaskIn, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.MEMBER)
            if data.assignee_id is not None:
                await _require_assignee(session, workspace_id, data.assignee_id)
            # Under the workspace lock concurrent creates never compute the same order key, and
            # the columns read below cannot change before the task is in one.
            await self.log.lock(session, workspace_id)
            columns = await workspace_columns(session, workspace_id)
            status = columns.require(data.status) if data.status is not None else columns.first_open()
            done = columns.is_done(status)
            now = utcnow()
            last = await _last_position(session, workspace_id, status, exclude=None)
            task = Task(
                id=str(uuid.uuid4()),
                workspace_id=workspace_id,
                title=data.title,
                description=data.description,
                status=status,
                position=key_between(last, None),
                completed=done,
                completed_at=now if done else None,
                assignee_id=data.assignee_id,
                due_date=data.due_date,
                priority=data.priority,
                labels=list(data.labels),
                created_by=actor_id,
                created_at=now,
                updated_at=now,
                version=1,
                field_versions={},
            )
            session.add(task)
            await session.flush()
            view = task_view(task)
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.TASK_CREATED,
                {"workspaceId": workspace_id, "task": view, "actorId": actor_id},
                task_id=task.id,
            )
            notices = await _assigned(session, task, actor_id)
            return WriteOutcome(201, view, [event], notices, scope=_member_of(workspace_id))

        return await self.writes.run(work, key)

    async def update(
        self, actor_id: str, task_id: str, data: TaskPatch, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            task = await self._writable_task(session, task_id, actor_id)
            wanted = {
                wire: getattr(data, column)
                for wire, column in _EDITABLE.items()
                if column in data.model_fields_set
            }
            changes = {
                wire: value
                for wire, value in wanted.items()
                if not _same(getattr(task, _EDITABLE[wire]), value)
            }
            _check_conflicts(task, changes, data.base_version)
            if "assigneeId" in changes and changes["assigneeId"] is not None:
                await _require_assignee(session, task.workspace_id, changes["assigneeId"])
            if not changes:
                return WriteOutcome(200, task_view(task), scope=_member_of(task.workspace_id))
            for wire, value in changes.items():
                setattr(task, _EDITABLE[wire], value)
            _bump(task, changes)
            view = task_view(task)
            event = await self.log.append(
                session,
                task.workspace_id,
                MessageType.TASK_UPDATED,
                {
                    "workspaceId": task.workspace_id,
                    "task": view,
                    "changes": list(changes),
                    "actorId": actor_id,
                },
                task_id=task.id,
            )
            notices = await _assigned(session, task, actor_id) if "assigneeId" in changes else []
            return WriteOutcome(200, view, [event], notices, scope=_member_of(task.workspace_id))

        return await self.writes.run(work, key)

    async def complete(
        self, actor_id: str, task_id: str, data: TaskCompleteIn, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            task = await self._writable_task(session, task_id, actor_id)
            if task.completed == data.completed:
                return WriteOutcome(200, task_view(task), scope=_member_of(task.workspace_id))
            # One meaning of done: completing is a move to the end of the first done column,
            # un-completing one to the end of the first column that is not done.
            columns = await workspace_columns(session, task.workspace_id)
            target = columns.first_done() if data.completed else columns.first_open()
            last = await _last_position(session, task.workspace_id, target, exclude=task.id)
            task.status = target
            task.position = key_between(last, None)
            _set_completed(task, data.completed)
            _bump(task, {"completed": data.completed, "status": target, "position": task.position})
            view = task_view(task)
            event = await self.log.append(
                session,
                task.workspace_id,
                MessageType.TASK_COMPLETED,
                {"workspaceId": task.workspace_id, "task": view, "actorId": actor_id},
                task_id=task.id,
            )
            return WriteOutcome(200, view, [event], scope=_member_of(task.workspace_id))

        return await self.writes.run(work, key)

    async def move(
        self, actor_id: str, task_id: str, data: TaskMoveIn, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            task = await self._writable_task(session, task_id, actor_id)
            columns = await workspace_columns(session, task.workspace_id)
            columns.require(data.status)
            # Column and order are changed together by a move, so they conflict together.
            _check_conflicts(task, {"status": data.status, "position": None}, data.base_version)
            before = await _neighbour(session, task, data.before_id, data.status, "beforeId")
            after = await _neighbour(session, task, data.after_id, data.status, "afterId")
            if before is not None and after is not None and not before.position < after.position:
                raise InvalidField("afterId", "must come after beforeId in the column")
            low: str | None
            high: str | None
            if before is not None:
                # Right below `before`. With `after` named too, that is still above it, and when the
                # two are no longer adjacent (a task landed between them since the client looked)
                # the new key still never equals the key of a task already in the gap.
                low, high = before.position, await _next_position(session, before, exclude=task.id)
            elif after is not None:
                low, high = await _previous_position(session, after, exclude=task.id), after.position
            else:
                low, high = (
                    await _last_position(session, task.workspace_id, data.status, exclude=task.id),
                    None,
                )
            origin = {"status": task.status, "position": task.position}
            task.status = data.status
            task.position = key_between(low, high)
            moved: dict[str, Any] = {"status": data.status, "position": task.position}
            done = columns.is_done(data.status)
            if task.completed != done:  # the column it lands in says whether it is done
                _set_completed(task, done)
                moved["completed"] = done
            _bump(task, moved)
            view = task_view(task)
            event = await self.log.append(
                session,
                task.workspace_id,
                MessageType.TASK_MOVED,
                {
                    "workspaceId": task.workspace_id,
                    "task": view,
                    "from": origin,
                    "to": {"status": task.status, "position": task.position},
                    "actorId": actor_id,
                },
                task_id=task.id,
            )
            return WriteOutcome(200, view, [event], scope=_member_of(task.workspace_id))

        return await self.writes.run(work, key)

    async def delete(self, actor_id: str, task_id: str, key: IdempotencyKey | None = None) -> Reply:
        """Moves the task to the trash: the row stays (with its shared description) until the
        trash is emptied after TRASH_RETENTION_DAYS, and answers 404 to everything but restore."""

        async def work(session: AsyncSession) -> WriteOutcome:
            task = await self._writable_task(session, task_id, actor_id)
            workspace_id = task.workspace_id
            task.deleted_at = utcnow()
            task.deleted_by = actor_id
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.TASK_DELETED,
                {"workspaceId": workspace_id, "taskId": task_id, "actorId": actor_id},
                task_id=task_id,
            )
            return WriteOutcome(204, None, [event], scope=_member_of(workspace_id))

        return await self.writes.run(work, key)

    async def restore(self, actor_id: str, task_id: str, key: IdempotencyKey | None = None) -> Reply:
        """Brings a trashed task back where it was: its column, and its own position key when no
        task has taken that key since (the key alone orders it between whatever neighbours are
        there now); else the end of the column. A column removed meanwhile: the end of the first
        column that agrees with whether it is completed. 404 for a task not in the trash."""

        async def work(session: AsyncSession) -> WriteOutcome:
            task = await _trashed_task(session, task_id, actor_id, Role.MEMBER)
            await self.log.lock(session, task.workspace_id)
            fresh = await session.scalar(
                select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
            )
            if fresh is None or fresh.deleted_at is None:
                raise NotFound("task not found in the trash")
            task = fresh
            columns = await workspace_columns(session, task.workspace_id)
            changed: dict[str, Any] = {}
            if columns.has(task.status):
                taken = await session.scalar(
                    select(Task.id).where(
                        Task.workspace_id == task.workspace_id,
                        Task.status == task.status,
                        Task.position == task.position,
                        Task.live(),
                    )
                )
                if taken is not None:
                    last = await _last_position(session, task.workspace_id, task.status, exclude=task.id)
                    task.position = key_between(last, None)
                    changed["position"] = task.position
                if task.completed != columns.is_done(task.status):
                    # The column's `done` was flipped while the task was away (a trashed task
                    # holds no column): the column still says whether it is done.
                    _set_completed(task, columns.is_done(task.status))
                    changed["completed"] = task.completed
            else:
                target = columns.first_done() if task.completed else columns.first_open()
                last = await _last_position(session, task.workspace_id, target, exclude=task.id)
                task.status = target
                task.position = key_between(last, None)
                changed.update(status=target, position=task.position)
                if task.completed != columns.is_done(target):
                    _set_completed(task, columns.is_done(target))
                    changed["completed"] = task.completed
            task.deleted_at = None
            task.deleted_by = None
            # A new version even when nothing moved: the restored task is newer than any copy a
            # client kept from before the delete.
            _bump(task, changed)
            view = task_view(task)
            event = await self.log.append(
                session,
                task.workspace_id,
                MessageType.TASK_RESTORED,
                {"workspaceId": task.workspace_id, "task": view, "actorId": actor_id},
                task_id=task.id,
            )
            return WriteOutcome(200, view, [event], scope=_member_of(task.workspace_id))

        return await self.writes.run(work, key)

    async def _writable_task(self, session: AsyncSession, task_id: str, actor_id: str) -> Task:
        """The task, re-read under its workspace's write lock.

        Every write of a workspace takes that one lock first (the row `seq` lives on), so writers
        never deadlock on lock order and each sees the others' committed changes: concurrent moves
        into one gap get different keys, and merges compare against the latest version.
        """
        task = await visible_task(session, task_id, actor_id, Role.MEMBER)
        await self.log.lock(session, task.workspace_id)
        fresh = await session.scalar(
            select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
        )
        if fresh is None or fresh.deleted_at is not None:
            raise NotFound("task not found")
        return fresh


# --- helpers ------------------------------------------------------------------------------------


def _member_of(workspace_id: str) -> AccessScope:
    """Every task write needs the member role in the task's workspace, and so does its replay."""
    return AccessScope(workspace_id, Role.MEMBER.value)


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(current, datetime) and isinstance(wanted, datetime):
        return ensure_utc(current) == ensure_utc(wanted)
    return bool(current == wanted)


async def workspace_columns(session: AsyncSession, workspace_id: str) -> Columns:
    stored = await session.scalar(select(Workspace.columns).where(Workspace.id == workspace_id))
    return Columns.stored(stored)


def _set_completed(task: Task, completed: bool) -> None:
    task.completed = completed
    task.completed_at = utcnow() if completed else None


def _bump(task: Task, changed: dict[str, Any]) -> None:
    task.version += 1
    # A new dict, so the JSON column is seen as changed.
    task.field_versions = {**task.field_versions, **dict.fromkeys(changed, task.version)}
    task.updated_at = utcnow()


def _check_conflicts(task: Task, changes: dict[str, Any], base_version: int | None) -> None:
    """Merge rule: a field someone else changed after `base_version` may not be overwritten blindly."""
    if base_version is None:
        return
    clashing = [name for name in changes if int(task.field_versions.get(name, 0)) > base_version]
    if clashing:
        raise Conflict(
            f"changed by someone else since version {base_version}: {', '.join(clashing)}",
            # The shape of every error's `fields`, so a client reads 409 and 422 alike.
            fields=[
                {"field": name, "message": f"changed by someone else since version {base_version}"}
                for name in clashing
            ],
            current=task_view(task),
        )


async def visible_task(session: AsyncSession, task_id: str, user_id: str, minimum: Role) -> Task:
    """A task on the board (not in the trash) of a workspace the user has `minimum` in."""
    task = await session.get(Task, task_id)
    if task is None or task.deleted_at is not None:
        raise NotFound("task not found")
    try:
        await require_role(session, task.workspace_id, user_id, minimum)
    except NotFound:
        raise NotFound("task not found") from None
    return task


async def _trashed_task(session: AsyncSession, task_id: str, user_id: str, minimum: Role) -> Task:
    """A task in the trash of a workspace the user has `minimum` in; 404 for any other."""
    task = await session.get(Task, task_id)
    if task is None or task.deleted_at is None:
        raise NotFound("task not found in the trash")
    try:
        await require_role(session, task.workspace_id, user_id, minimum)
    except NotFound:
        raise NotFound("task not found in the trash") from None
    return task


async def _assigned(session: AsyncSession, task: Task, actor_id: str) -> list[UserNotice]:
    """The assignee's notification of a task just assigned to them (none for the actor)."""
    if task.assignee_id is None:
        return []
    notice = await notify(session, task.assignee_id, "assigned", task.workspace_id, task.id, actor_id)
    return [notice] if notice is not None else []


async def _require_assignee(session: AsyncSession, workspace_id: str, user_id: str) -> None:
    if await session.get(Member, (workspace_id, user_id)) is None:
        raise InvalidField("assigneeId", "must be a member of this workspace")


async def _neighbour(
    session: AsyncSession, task: Task, neighbour_id: str | None, status: str, field: str
) -> Task | None:
    if neighbour_id is None:
        return None
    if neighbour_id == task.id:
        raise InvalidField(field, "a task cannot be its own neighbour")
    neighbour = await session.get(Task, neighbour_id)
    if neighbour is None or neighbour.workspace_id != task.workspace_id or neighbour.deleted_at is not None:
        raise InvalidField(field, "no such task in this workspace")
    if neighbour.status != status:
        raise InvalidField(field, f"that task is not in the {status} column")
    return neighbour


# Built once: every task creation runs it.
_LAST_POSITION = (
    select(Task.position)
    .where(Task.workspace_id == bindparam("workspace_id"), Task.status == bindparam("status"), Task.live())
    .order_by(Task.position.desc())
    .limit(1)
)


async def _last_position(
    session: AsyncSession, workspace_id: str, status: str, exclude: str | None
) -> str | None:
    if exclude is None:
        return await session.scalar(_LAST_POSITION, {"workspace_id": workspace_id, "status": status})
    query = select(Task.position).where(
        Task.workspace_id == workspace_id, Task.status == status, Task.id != exclude, Task.live()
    )
    return await session.scalar(query.order_by(Task.position.desc()).limit(1))


async def _next_position(session: AsyncSession, before: Task, exclude: str) -> str | None:
    return await session.scalar(
        select(Task.position)
        .where(
            Task.workspace_id == before.workspace_id,
            Task.status == before.status,
            Task.position > before.position,
            Task.id != exclude,
            Task.live(),
        )
        .order_by(Task.position)
        .limit(1)
    )


async def _previous_position(session: AsyncSession, after: Task, exclude: str) -> str | None:
    return await session.scalar(
        select(Task.position)
        .where(
            Task.workspace_id == after.workspace_id,
            Task.status == after.status,
            Task.position < after.position,
            Task.id != exclude,
            Task.live(),
        )
        .order_by(Task.position.desc())
        .limit(1)
    )
