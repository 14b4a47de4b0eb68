"""Rows to wire objects; the same objects go into HTTP answers and event data."""

from __future__ import annotations

from typing import Any

from ..db.models import Member, Task, User, Workspace
from ..schemas import MemberOut, Role, TaskOut, UserOut, WorkspaceOut
from .columns import Columns


def user_view(user: User) -> dict[str, Any]:
    return UserOut(id=user.id, email=user.email, name=user.name, created_at=user.created_at).wire()


def workspace_view(workspace: Workspace, role: str | None) -> dict[str, Any]:
    """`role` is the viewer's own; broadcasts (seen by every role) leave it out."""
    view = WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        description=workspace.description,
        owner_id=workspace.owner_id,
        role=Role(role or Role.VIEWER),
        seq=workspace.seq,
        columns=Columns.stored(workspace.columns).wire(),
        created_at=workspace.created_at,
        updated_at=workspace.updated_at,
    ).wire()
    if role is None:
        del view["role"]
    return view


def member_view(member: Member, user: User) -> dict[str, Any]:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(member.role),
        joined_at=member.joined_at,
        kind="service" if user.kind == "service" else "person",
    ).wire()


def task_view(task: Task) -> dict[str, Any]:
    return TaskOut.model_validate(task, from_attributes=True).wire()
