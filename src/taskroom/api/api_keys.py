"""API keys for back-ends (PROTOCOL §5.3): created, listed and deleted by a workspace's admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ..schemas import ApiKeyCreated, ApiKeyIn, ApiKeyList
from .deps import IdemKey, PathId, ServicesDep, UserId, reply
from .responses import READ_IN_WORKSPACE, WRITE_IN_WORKSPACE, errors

router = APIRouter(tags=["api keys"])


@router.post(
    "/workspaces/{workspace_id}/api-keys",
    summary="Create an API key",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def create_api_key(
    workspace_id: PathId, body: ApiKeyIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Creates a key for a back-end, acting in this one workspace as admin, member or viewer (admin and up). The key (`trk_…`) is shown in this answer only and stored hashed: keep it now. A replay of the same Idempotency-Key answers the key's record without the key."""
    return reply(await services.api_keys.create(user_id, workspace_id, body, key))


@router.get(
    "/workspaces/{workspace_id}/api-keys",
    summary="API keys",
    response_model=ApiKeyList,
    responses=errors(*READ_IN_WORKSPACE, 403),
)
async def list_api_keys(workspace_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """The workspace's keys (admin and up): name, role, prefix and when each was last used, never the keys."""
    return {"items": await services.api_keys.listed(user_id, workspace_id)}


@router.delete(
    "/workspaces/{workspace_id}/api-keys/{key_id}",
    summary="Delete an API key",
    status_code=204,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def delete_api_key(
    workspace_id: PathId, key_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Deletes a key: it is refused at once (401), its sockets close 4401 on every node, and its member leaves the workspace."""
    return reply(await services.api_keys.delete(user_id, workspace_id, key_id, key))
