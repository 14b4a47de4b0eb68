"""Invitations (PROTOCOL §5.4): created, listed and revoked by admins, accepted by the invited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from ..schemas import InvitationAccepted, InvitationCreated, InvitationIn, InvitationList
from .deps import IdemKey, PathId, ServicesDep, UserId, reply
from .responses import READ_IN_WORKSPACE, WRITE_IN_WORKSPACE, errors

router = APIRouter(tags=["invitations"])

# The token is a bearer secret in the path: access logs redact it (logging_redaction.py).
InvitationToken = Annotated[str, Path(min_length=1, max_length=256)]


@router.post(
    "/workspaces/{workspace_id}/invitations",
    summary="Invite someone",
    status_code=201,
    response_model=InvitationCreated,
    responses=errors(*WRITE_IN_WORKSPACE, 409, 410),
)
async def create_invitation(
    workspace_id: PathId, body: InvitationIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Invites an email address, with or without an account, as admin, member or viewer (admin and up). The answer holds the link's token, shown this once. 409 when the address is already a member."""
    return reply(await services.invitations.create(user_id, workspace_id, body, key))


@router.get(
    "/workspaces/{workspace_id}/invitations",
    summary="Pending invitations",
    response_model=InvitationList,
    responses=errors(*READ_IN_WORKSPACE, 403),
)
async def list_invitations(workspace_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """The workspace's pending invitations (admin and up), never their tokens."""
    return {"items": await services.invitations.pending(user_id, workspace_id)}


@router.delete(
    "/workspaces/{workspace_id}/invitations/{invitation_id}",
    summary="Withdraw an invitation",
    status_code=204,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def revoke_invitation(
    workspace_id: PathId, invitation_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Withdraws a pending invitation: its link answers 410 from then on."""
    return reply(await services.invitations.revoke(user_id, workspace_id, invitation_id, key))


@router.post(
    "/invitations/{token}/accept",
    summary="Accept an invitation",
    response_model=InvitationAccepted,
    responses=errors(401, 403, 404, 410, 422),
)
async def accept_invitation(
    token: InvitationToken, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Joins the signed-in account to the workspace; its email must be the invited one (else 403). 410 for an accepted, withdrawn or expired invitation."""
    return reply(await services.invitations.accept(user_id, token, key))
