from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from ..schemas import (
    MAX_INT64,
    EventsPage,
    MemberIn,
    MemberList,
    MemberOut,
    MemberPatch,
    WorkspaceIn,
    WorkspaceList,
    WorkspaceOut,
    WorkspacePatch,
    WorkspaceSnapshot,
)
from ..services.log import decode_envelopes
from ..services.task_pages import MAX_CURSOR_CHARS
from ..services.workspaces import SNAPSHOT_PAGE_DEFAULT, SNAPSHOT_PAGE_MAX
from .deps import IdemKey, KnownQuery, PathId, ServicesDep, UserId, limit_member_adds, reply
from .responses import AUTHENTICATED, READ_IN_WORKSPACE, WRITE_IN_WORKSPACE, errors

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


@router.post(
    "",
    summary="Create a workspace",
    status_code=201,
    response_model=WorkspaceOut,
    responses=errors(*AUTHENTICATED, 403),
)
async def create_workspace(
    body: WorkspaceIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Creates a workspace owned by the caller, who is its first member (role `owner`). The creator's open WebSocket connections receive `WORKSPACE_CREATED` and join it. An API key cannot create one (403)."""
    return reply(await services.workspaces.create(user_id, body, key))


@router.get("", summary="List my workspaces", response_model=WorkspaceList, responses=errors(401))
async def list_workspaces(user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """Every workspace the caller is a member of, with the caller's role and the workspace's latest `seq`."""
    return {"items": await services.workspaces.list_for(user_id)}


@router.get(
    "/{workspace_id}",
    summary="Get a workspace",
    response_model=WorkspaceOut,
    responses=errors(*READ_IN_WORKSPACE),
)
async def get_workspace(workspace_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """One workspace the caller is a member of; 404 for one that does not exist or that the caller cannot see (the two are not told apart)."""
    return await services.workspaces.get(user_id, workspace_id)


@router.patch(
    "/{workspace_id}",
    summary="Rename, describe or change the columns of a workspace",
    response_model=WorkspaceOut,
    responses=errors(*WRITE_IN_WORKSPACE, 409),
)
async def update_workspace(
    workspace_id: PathId, body: WorkspacePatch, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Changes the name, the description or the columns (admin or owner). `columns` is the whole list in board order: add, rename, reorder; a column that still holds tasks cannot be removed nor its `done` flipped (409 `COLUMN_NOT_EMPTY`). Members receive `WORKSPACE_UPDATED`."""
    return reply(await services.workspaces.update(user_id, workspace_id, body, key))


@router.delete(
    "/{workspace_id}", summary="Delete a workspace", status_code=204, responses=errors(*WRITE_IN_WORKSPACE)
)
async def delete_workspace(
    workspace_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Deletes the workspace with its tasks and log (owner only). Members receive `WORKSPACE_DELETED` and leave the room."""
    return reply(await services.workspaces.delete(user_id, workspace_id, key))


@router.get(
    "/{workspace_id}/members",
    summary="List the members",
    response_model=MemberList,
    responses=errors(*READ_IN_WORKSPACE),
)
async def list_members(workspace_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """The members of a workspace, with their roles."""
    return {"items": await services.workspaces.members(user_id, workspace_id)}


@router.post(
    "/{workspace_id}/members",
    summary="Add a member",
    status_code=201,
    response_model=MemberOut,
    dependencies=[Depends(limit_member_adds)],
    responses=errors(*WRITE_IN_WORKSPACE, 409, 429),
)
async def add_member(
    workspace_id: PathId, body: MemberIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Adds an existing account by email with a role (admin or owner). 404 when no account has that email, 409 when it is a member already. The added user's open connections join the room at once."""
    return reply(await services.workspaces.add_member(user_id, workspace_id, body, key))


@router.patch(
    "/{workspace_id}/members/{member_id}",
    summary="Change a member's role",
    response_model=MemberOut,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def change_member_role(
    workspace_id: PathId,
    member_id: PathId,
    body: MemberPatch,
    user_id: UserId,
    services: ServicesDep,
    key: IdemKey,
) -> Response:
    """Sets a member's role (admin or owner). The owner's role is not changed here."""
    return reply(await services.workspaces.change_role(user_id, workspace_id, member_id, body, key))


@router.delete(
    "/{workspace_id}/members/{member_id}",
    summary="Remove a member",
    status_code=204,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def remove_member(
    workspace_id: PathId, member_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Removes a member (admin or owner), or lets a member leave. The removed user's connections get `WORKSPACE_MEMBER_REMOVED` and then nothing more of the workspace, on any node."""
    return reply(await services.workspaces.remove_member(user_id, workspace_id, member_id, key))


@router.get(
    "/{workspace_id}/events",
    summary="Read the workspace's log",
    response_model=EventsPage,
    responses=errors(*READ_IN_WORKSPACE, 410),
    dependencies=[KnownQuery],
)
async def workspace_events(
    workspace_id: PathId,
    user_id: UserId,
    services: ServicesDep,
    since: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    """The logged events after `since`, oldest first, each the same envelope a WebSocket client receives. `hasMore` says another page follows. 410 when `since` is older than the retention: read the workspace again instead."""
    page = await services.workspaces.events(user_id, workspace_id, since, limit)
    return {
        "events": decode_envelopes(page.envelopes),
        "latestSeq": page.latest_seq,
        "hasMore": page.has_more,
    }


@router.get(
    "/{workspace_id}/snapshot",
    summary="Read the workspace at one moment",
    response_model=WorkspaceSnapshot,
    responses=errors(*READ_IN_WORKSPACE),
    dependencies=[KnownQuery],
)
async def workspace_snapshot(
    workspace_id: PathId,
    user_id: UserId,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=SNAPSHOT_PAGE_MAX)] = SNAPSHOT_PAGE_DEFAULT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR_CHARS)] = None,
) -> dict[str, Any]:
    """The workspace, its members and its tasks in board order, read in one transaction with the log's head `latestSeq`: applying every event after `latestSeq` gives the current state, with no event missed or applied twice. A big workspace comes in pages: pass `nextCursor` as `cursor` for the next one, and catch up from the first page's `latestSeq`. Writers are never held back by it."""
    return await services.workspaces.snapshot(user_id, workspace_id, limit, cursor)
