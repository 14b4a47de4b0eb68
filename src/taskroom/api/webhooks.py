"""Webhooks of a workspace (PROTOCOL §8), admin and owner only: docs/webhooks.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import Field, StringConstraints, field_validator

from ..schemas import MAX_INT64, RequestModel, WireModel
from ..services.webhooks import NewWebhook, WebhookChange
from ..services.webhooks.signing import secret_key
from .deps import IdemKey, PathId, ServicesDep, UserId, reply
from .responses import WRITE_IN_WORKSPACE, errors

router = APIRouter(prefix="/workspaces/{workspace_id}/webhooks", tags=["webhooks"])

# The log's event types (§3.2 and WORKSPACE_MEMBER_UPDATED), spelled out for the schema.
EventType = Literal[
    "TASK_CREATED",
    "TASK_UPDATED",
    "TASK_DELETED",
    "TASK_COMPLETED",
    "TASK_MOVED",
    "WORKSPACE_UPDATED",
    "WORKSPACE_DELETED",
    "WORKSPACE_MEMBER_ADDED",
    "WORKSPACE_MEMBER_REMOVED",
    "WORKSPACE_MEMBER_UPDATED",
]
HookUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\x00]+$")]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=20)]
# `whsec_` + standard base64 of 24 to 64 bytes (Standard Webhooks' key sizes), spelled out so that
# the schema promises only secrets the server takes.
_B64 = "[A-Za-z0-9+/]"
SECRET_PATTERN = (
    f"^whsec_(?:(?:{_B64}{{4}}){{8,20}}(?:{_B64}{{2}}==|{_B64}{{3}}=|{_B64}{{4}})?"
    f"|(?:{_B64}{{4}}){{21}}{_B64}{{2}}==)$"
)
Secret = Annotated[str, StringConstraints(max_length=200, pattern=SECRET_PATTERN)]


def _valid_secret(value: str | None) -> str | None:
    if value is not None:
        secret_key(value)  # ValueError: 422 with the field
    return value


class WebhookIn(RequestModel):
    url: HookUrl
    # Absent or null: every event type.
    events: EventTypes | None = None
    # Absent: one is generated (`whsec_` + base64 of 32 random bytes), shown in the 201 only.
    secret: Secret | None = None

    _secret = field_validator("secret")(_valid_secret)


class WebhookPatch(RequestModel):
    url: HookUrl | None = None
    events: EventTypes | None = None
    secret: Secret | None = None

    _secret = field_validator("secret")(_valid_secret)


class ReplayIn(RequestModel):
    since_seq: Annotated[int, Field(ge=0, le=MAX_INT64)]


class AttemptOut(WireModel):
    seq: int
    event_id: str
    attempted_at: str
    ok: bool
    status_code: int | None
    error: str | None


class WebhookOut(WireModel):
    id: str
    workspace_id: str
    url: str
    events: list[str] | None
    status: Literal["active", "failing"]
    # The last seq acknowledged by the receiver (or skipped by `events`).
    last_delivered_seq: int
    failures: int
    failing_since: str | None
    next_attempt_at: str | None
    created_at: str
    updated_at: str


class WebhookCreated(WebhookOut):
    secret: str


class WebhookDetail(WebhookOut):
    # The last attempts, newest first.
    attempts: list[AttemptOut]


class WebhookList(WireModel):
    items: list[WebhookOut]


@router.post("", status_code=201, response_model=WebhookCreated, responses=errors(*WRITE_IN_WORKSPACE))
async def create_webhook(
    workspace_id: PathId, body: WebhookIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    hook = NewWebhook(body.url, body.events, body.secret)
    return reply(await services.webhooks.create(user_id, workspace_id, hook, key))


@router.get("", response_model=WebhookList, responses=errors(*WRITE_IN_WORKSPACE))
async def list_webhooks(workspace_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    return {"items": await services.webhooks.list(user_id, workspace_id)}


@router.get("/{hook_id}", response_model=WebhookDetail, responses=errors(*WRITE_IN_WORKSPACE))
async def get_webhook(
    workspace_id: PathId, hook_id: PathId, user_id: UserId, services: ServicesDep
) -> dict[str, Any]:
    return await services.webhooks.get(user_id, workspace_id, hook_id)


@router.patch("/{hook_id}", response_model=WebhookOut, responses=errors(*WRITE_IN_WORKSPACE))
async def update_webhook(
    workspace_id: PathId,
    hook_id: PathId,
    body: WebhookPatch,
    user_id: UserId,
    services: ServicesDep,
    key: IdemKey,
) -> Response:
    change = WebhookChange(body.url, body.events, "events" in body.model_fields_set, body.secret)
    return reply(await services.webhooks.update(user_id, workspace_id, hook_id, change, key))


@router.delete("/{hook_id}", status_code=204, responses=errors(*WRITE_IN_WORKSPACE))
async def delete_webhook(
    workspace_id: PathId, hook_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    return reply(await services.webhooks.delete(user_id, workspace_id, hook_id, key))


@router.post("/{hook_id}/replay", response_model=WebhookOut, responses=errors(*WRITE_IN_WORKSPACE, 410))
async def replay_webhook(
    workspace_id: PathId,
    hook_id: PathId,
    body: ReplayIn,
    user_id: UserId,
    services: ServicesDep,
    key: IdemKey,
) -> Response:
    return reply(await services.webhooks.replay(user_id, workspace_id, hook_id, body.since_seq, key))
