"""Workspaces and their members. Every change appends its event in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Member, Task, User, Workspace
from ..errors import AlreadyExists, Forbidden, NotFound, Unauthorized
from ..schemas import MemberIn, MemberPatch, Role, WorkspaceIn, WorkspacePatch
from ..timeutil import utcnow
from ..wire import MessageType, encode_server_frame
from .access import require_role
from .api_keys import SERVICE, ApiKeyService
from .columns import Column, ColumnNotEmpty, Columns
from .database import Database
from .idempotency import AccessScope, IdempotencyKey
from .log import LogPage, WorkspaceLog
from .task_pages import TaskFilters, decode_cursor, read_page
from .views import member_view, task_view, workspace_view
from .writes import Reply, UserNotice, WriteOutcome, WriteRunner

_EVERY_TASK = TaskFilters()
# Tasks per `/snapshot` page: a board of a few thousand tasks opens in one request (about 1.5 MB
# for 5,000), while a page still holds a bounded number of rows in memory.
SNAPSHOT_PAGE_DEFAULT = 1000
SNAPSHOT_PAGE_MAX = 5000


@dataclass(frozen=True, slots=True)
class WorkspaceService:
    db: Database
    log: WorkspaceLog
    writes: WriteRunner
    keys: ApiKeyService

    # --- reads ---------------------------------------------------------------------------------

    async def list_for(self, user_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(Workspace, Member.role)
                .join(Member, Member.workspace_id == Workspace.id)
                .where(Member.user_id == user_id)
                .order_by(Workspace.created_at, Workspace.id)
            )
            return [workspace_view(ws, role) for ws, role in rows]

    async def get(self, user_id: str, workspace_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            member = await require_role(session, workspace_id, user_id, Role.VIEWER)
            workspace = await _workspace(session, workspace_id)
            return workspace_view(workspace, member.role)

    async def members(self, user_id: str, workspace_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            await require_role(session, workspace_id, user_id, Role.VIEWER)
            return await member_views(session, workspace_id)

    async def events(self, user_id: str, workspace_id: str, since: int, limit: int) -> LogPage:
        async with self.db.read() as session:
            await require_role(session, workspace_id, user_id, Role.VIEWER)
            return await self.log.read(session, workspace_id, since, limit)

    async def snapshot(
        self, user_id: str, workspace_id: str, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """The workspace, its members, a page of its tasks and the log's head, read at one moment
        (PROTOCOL §6): applying every event after `latestSeq` to them gives the current state.

        A later page (`cursor`) is its own moment. A client that applies the events after the
        first page's `latestSeq` to all its pages still ends at the current state: every task
        event carries the whole task (or deletes it), so replaying one over a row read later
        only repeats a step the row has already taken."""
        after = decode_cursor(cursor) if cursor is not None else None
        async with self.db.snapshot() as session:
            member = await require_role(session, workspace_id, user_id, Role.VIEWER)
            workspace = await _workspace(session, workspace_id)
            keys = Columns.stored(workspace.columns).keys
            tasks, next_key = await read_page(session, workspace_id, keys, _EVERY_TASK, limit, after)
            return {
                "workspace": workspace_view(workspace, member.role),
                "members": await member_views(session, workspace_id),
                "tasks": [task_view(task) for task in tasks],
                "latestSeq": workspace.seq,  # the log's head, read in the same moment
                "nextCursor": next_key.encode() if next_key else None,
            }

    # --- writes --------------------------------------------------------------------------------

    async def create(self, actor_id: str, data: WorkspaceIn, key: IdempotencyKey | None = None) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            # The only write open to any signed token: a token that outlived its account (a reset
            # database, same secret) must not reach the owner foreign key as a server error.
            actor = await session.get(User, actor_id)
            if actor is None:
                raise Unauthorized("the account of this token no longer exists")
            if actor.kind == SERVICE:
                # An API key is made for one workspace; a workspace it created would outlive the
                # key (its owner, the service user, goes with the key) and belong to nobody.
                raise Forbidden("an API key acts in its own workspace only; it cannot create one")
            now = utcnow()
            workspace = Workspace(
                id=str(uuid.uuid4()),
                name=data.name,
                description=data.description,
                owner_id=actor_id,
                seq=0,
                log_floor=0,
                created_at=now,
                updated_at=now,
            )
            session.add(workspace)
            await session.flush()  # no ORM relationships: the parent row must exist first
            session.add(
                Member(workspace_id=workspace.id, user_id=actor_id, role=Role.OWNER.value, joined_at=now)
            )
            await session.flush()
            view = workspace_view(workspace, Role.OWNER.value)
            # Not a log event: it concerns only the creator, whose connections then join the room.
            notice = encode_server_frame(
                MessageType.WORKSPACE_CREATED, {"workspace": view, "actorId": actor_id}
            )
            return WriteOutcome(
                201, view, notices=[UserNotice(actor_id, notice, MessageType.WORKSPACE_CREATED, workspace.id)]
            )

        return await self.writes.run(work, key)

    async def update(
        self, actor_id: str, workspace_id: str, data: WorkspacePatch, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            member = await require_role(session, workspace_id, actor_id, Role.ADMIN)
            admin = _admin_of(workspace_id)
            # Under the workspace lock, so a concurrent identical edit is seen and is a no-op.
            await self.log.lock(session, workspace_id)
            workspace = await _workspace(session, workspace_id)
            changes = {
                name: getattr(data, name)
                for name in data.model_fields_set & {"name", "description"}
                if getattr(data, name) != getattr(workspace, name)
            }
            if "name" in changes and changes["name"] is None:
                changes.pop("name")  # a name cannot be cleared; null means "leave as is"
            if data.columns is not None:
                current = Columns.stored(workspace.columns)
                wanted = Columns.chosen(Column(c.key, c.name, c.done) for c in data.columns)
                if wanted != current:
                    await _require_empty(session, workspace_id, current.changed_meaning(wanted))
                    changes["columns"] = wanted.stored_form()
            if not changes:
                return WriteOutcome(200, workspace_view(workspace, member.role), scope=admin)
            for name, value in changes.items():
                setattr(workspace, name, value)
            workspace.updated_at = utcnow()
            seq = await self.log.next_seq(session, workspace_id)
            await session.refresh(workspace, ["seq"])
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.WORKSPACE_UPDATED,
                {
                    "workspaceId": workspace_id,
                    "workspace": workspace_view(workspace, None),
                    "actorId": actor_id,
                },
                seq=seq,
            )
            return WriteOutcome(200, workspace_view(workspace, member.role), [event], scope=admin)

        return await self.writes.run(work, key)

    async def delete(self, actor_id: str, workspace_id: str, key: IdempotencyKey | None = None) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.OWNER)
            # The event takes the next seq and is published after commit; its log row goes with
            # the workspace (a client resuming later finds the workspace in `denied`).
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.WORKSPACE_DELETED,
                {"workspaceId": workspace_id, "actorId": actor_id},
            )
            # The workspace's keys go with it, and their service users; their sockets close.
            revoke_keys = await self.keys.drop_with_workspace(session, workspace_id)
            await session.execute(delete(Workspace).where(Workspace.id == workspace_id))
            return WriteOutcome(204, None, [event], before_publish=[revoke_keys] if revoke_keys else [])

        return await self.writes.run(work, key)

    async def add_member(
        self, actor_id: str, workspace_id: str, data: MemberIn, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            # Membership changes read the membership under the workspace lock: racing requests
            # then see each other's result (409, no-op, 404) instead of writing twice.
            await self.log.lock(session, workspace_id)
            user = await session.scalar(select(User).where(User.email == data.email))
            # An API key's service user belongs to its one workspace: it is no one to add elsewhere.
            if user is None or user.kind == SERVICE:
                raise NotFound("no user with this email")
            if await session.get(Member, (workspace_id, user.id)) is not None:
                raise AlreadyExists("already a member of this workspace")
            member = Member(workspace_id=workspace_id, user_id=user.id, role=data.role, joined_at=utcnow())
            session.add(member)
            await session.flush()
            view = member_view(member, user)
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.WORKSPACE_MEMBER_ADDED,
                {"workspaceId": workspace_id, "member": view, "actorId": actor_id},
                subject_user_id=user.id,
            )
            return WriteOutcome(201, view, [event], scope=_admin_of(workspace_id))

        return await self.writes.run(work, key)

    async def change_role(
        self,
        actor_id: str,
        workspace_id: str,
        user_id: str,
        data: MemberPatch,
        key: IdempotencyKey | None = None,
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            await self.log.lock(session, workspace_id)
            member, user = await _member(session, workspace_id, user_id)
            if member.role == Role.OWNER:
                raise Forbidden("the owner's role cannot be changed")
            if user.kind == SERVICE:
                raise Forbidden(KEY_MEMBER)
            if member.role == data.role:
                return WriteOutcome(200, member_view(member, user), scope=_admin_of(workspace_id))
            member.role = data.role
            view = member_view(member, user)
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.WORKSPACE_MEMBER_UPDATED,
                {"workspaceId": workspace_id, "member": view, "actorId": actor_id},
                subject_user_id=user_id,
            )
            return WriteOutcome(200, view, [event], scope=_admin_of(workspace_id))

        return await self.writes.run(work, key)

    async def remove_member(
        self, actor_id: str, workspace_id: str, user_id: str, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            # Anyone may leave; removing someone else takes an admin.
            minimum = Role.VIEWER if user_id == actor_id else Role.ADMIN
            await require_role(session, workspace_id, actor_id, minimum)
            await self.log.lock(session, workspace_id)
            member, user = await _member(session, workspace_id, user_id)
            if member.role == Role.OWNER:
                raise Forbidden("the owner cannot leave or be removed; delete the workspace instead")
            if user.kind == SERVICE:
                raise Forbidden(KEY_MEMBER)
            await session.delete(member)
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.WORKSPACE_MEMBER_REMOVED,
                {"workspaceId": workspace_id, "userId": user_id, "actorId": actor_id},
                subject_user_id=user_id,
            )
            # Leaving needs no role afterwards: the one who left may replay their own answer.
            scope = None if user_id == actor_id else _admin_of(workspace_id)
            return WriteOutcome(204, None, [event], scope=scope)

        return await self.writes.run(work, key)


# The member of an API key is its key's: it changes role or leaves only with the key.
KEY_MEMBER = "this member is an API key's; delete the key (its role is the key's)"


def _admin_of(workspace_id: str) -> AccessScope:
    return AccessScope(workspace_id, Role.ADMIN.value)


async def _workspace(session: AsyncSession, workspace_id: str) -> Workspace:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return workspace


async def _member(session: AsyncSession, workspace_id: str, user_id: str) -> tuple[Member, User]:
    row = (
        await session.execute(
            select(Member, User)
            .join(User, User.id == Member.user_id)
            .where(Member.workspace_id == workspace_id, Member.user_id == user_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("member not found")
    return row[0], row[1]


async def _require_empty(session: AsyncSession, workspace_id: str, column_keys: list[str]) -> None:
    """Removing a column, or flipping its `done`, would change tasks nobody touched: only when empty."""
    if not column_keys:
        return
    rows = await session.execute(
        select(Task.status, func.count())
        .where(Task.workspace_id == workspace_id, Task.status.in_(column_keys), Task.live())
        .group_by(Task.status)
    )
    held = {status: count for status, count in rows}
    if held:
        listed = ", ".join(f"{key} ({count} tasks)" for key, count in sorted(held.items()))
        raise ColumnNotEmpty(
            f"these columns still hold tasks: {listed}; move them out before removing the column"
            " or changing whether it is done",
            fields=[{"field": "columns", "message": f"{key} still holds tasks"} for key in sorted(held)],
        )


async def member_views(session: AsyncSession, workspace_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Member, User)
        .join(User, User.id == Member.user_id)
        .where(Member.workspace_id == workspace_id)
        .order_by(Member.joined_at, User.email)
    )
    return [member_view(member, user) for member, user in rows]
