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
)
from ..services.log import decode_envelopes
from .deps import IdemKey, PathId, ServicesDep, UserId, limit_member_adds, reply
from .responses import AUTHENTICATED, READ_IN_WORKSPACE, WRITE_IN_WORKSPACE, errors

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


@router.post("", status_code=201, response_model=WorkspaceOut, responses=errors(*AUTHENTICATED))
async def create_workspace(
    body: WorkspaceIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    return reply(await services.workspaces.create(user_id, body, key))


@router.get("", response_model=WorkspaceList, responses=errors(401))
async def list_workspaces(user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    return {"items": await services.workspaces.list_for(user_id)}


@router.get("/{workspace_id}", response_model=WorkspaceOut, responses=errors(*READ_IN_WORKSPACE))
async def get_workspace(workspace_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    return await services.workspaces.get(user_id, workspace_id)


@router.patch("/{workspace_id}", response_model=WorkspaceOut, responses=errors(*WRITE_IN_WORKSPACE))
async def update_workspace(
    workspace_id: PathId, body: WorkspacePatch, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    return reply(await services.workspaces.update(user_id, workspace_id, body, key))


@router.delete("/{workspace_id}", status_code=204, responses=errors(*WRITE_IN_WORKSPACE))
async def delete_workspace(
    workspace_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    return reply(await services.workspaces.delete(user_id, workspace_id, key))


@router.get("/{workspace_id}/members", response_model=MemberList, responses=errors(*READ_IN_WORKSPACE))
async def list_members(workspace_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    return {"items": await services.workspaces.members(user_id, workspace_id)}


@router.post(
    "/{workspace_id}/members",
    status_code=201,
    response_model=MemberOut,
    dependencies=[Depends(limit_member_adds)],
    responses=errors(*WRITE_IN_WORKSPACE, 409, 429),
)
async def add_member(
    workspace_id: PathId, body: MemberIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    return reply(await services.workspaces.add_member(user_id, workspace_id, body, key))


@router.patch(
    "/{workspace_id}/members/{member_id}", response_model=MemberOut, responses=errors(*WRITE_IN_WORKSPACE)
)
async def change_member_role(
    workspace_id: PathId,
    member_id: PathId,
    body: MemberPatch,
    user_id: UserId,
    services: ServicesDep,
    key: IdemKey,
) -> Response:
    return reply(await services.workspaces.change_role(user_id, workspace_id, member_id, body, key))


@router.delete("/{workspace_id}/members/{member_id}", status_code=204, responses=errors(*WRITE_IN_WORKSPACE))
async def remove_member(
    workspace_id: PathId, member_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    return reply(await services.workspaces.remove_member(user_id, workspace_id, member_id, key))


@router.get("/{workspace_id}/events", response_model=EventsPage, responses=errors(*READ_IN_WORKSPACE, 410))
async def workspace_events(
    workspace_id: PathId,
    user_id: UserId,
    services: ServicesDep,
    since: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    page = await services.workspaces.events(user_id, workspace_id, since, limit)
    return {
        "events": decode_envelopes(page.envelopes),
        "latestSeq": page.latest_seq,
        "hasMore": page.has_more,
    }
