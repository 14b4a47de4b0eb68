"""Webhooks of a workspace (PROTOCOL §8), admin and owner only: docs/webhooks.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field, StringConstraints, field_validator

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
    "TASK_RESTORED",
    "COMMENT_ADDED",
    "COMMENT_UPDATED",
    "COMMENT_DELETED",
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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"url": "https://hooks.example.com/taskroom", "events": ["TASK_CREATED", "TASK_UPDATED"]}
            ]
        }
    )

    url: HookUrl
    # Absent or null: every event type.
    events: EventTypes | None = None
    # Absent: one is generated (`whsec_` + base64 of 32 random bytes), shown in the 201 only.
    secret: Secret | None = None

    _secret = field_validator("secret")(_valid_secret)


class WebhookPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"events": ["TASK_CREATED"]}]})

    url: HookUrl | None = None
    events: EventTypes | None = None
    secret: Secret | None = None

    _secret = field_validator("secret")(_valid_secret)


class ReplayIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"sinceSeq": 0}]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5d0c7b9e-3f1a-4c2b-8e6d-1a9f4b7c2e30",
                    "workspaceId": "2b1f0c3e-8d4a-4f6e-9a51-7c2d9e0b6a11",
                    "url": "https://hooks.example.com/taskroom",
                    "events": ["TASK_CREATED"],
                    "status": "active",
                    "lastDeliveredSeq": 42,
                    "failures": 0,
                    "failingSince": None,
                    "nextAttemptAt": None,
                    "createdAt": "2026-12-03T10:00:00Z",
                    "updatedAt": "2026-12-03T10:00:00Z",
                    "attempts": [
                        {
                            "seq": 42,
                            "eventId": "9f3e2a1b-6c5d-4e7f-8a9b-0c1d2e3f4a5b",
                            "attemptedAt": "2026-12-03T10:00:01Z",
                            "ok": True,
                            "statusCode": 200,
                            "error": None,
                        }
                    ],
                }
            ]
        }
    )

    # The last attempts, newest first.
    attempts: list[AttemptOut]


class WebhookList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "5d0c7b9e-3f1a-4c2b-8e6d-1a9f4b7c2e30",
                            "workspaceId": "2b1f0c3e-8d4a-4f6e-9a51-7c2d9e0b6a11",
                            "url": "https://hooks.example.com/taskroom",
                            "events": ["TASK_CREATED"],
                            "status": "active",
                            "lastDeliveredSeq": 42,
                            "failures": 0,
                            "failingSince": None,
                            "nextAttemptAt": None,
                            "createdAt": "2026-12-03T10:00:00Z",
                            "updatedAt": "2026-12-03T10:00:00Z",
                        }
                    ]
                }
            ]
        }
    )

    items: list[WebhookOut]


@router.post(
    "",
    summary="Create a webhook",
    status_code=201,
    response_model=WebhookCreated,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def create_webhook(
    workspace_id: PathId, body: WebhookIn, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Creates a webhook (admin and up): every log event of the workspace, or of the types listed, is POSTed to the URL in seq order and signed. The secret is shown in this answer only. Private addresses are refused with 422."""
    hook = NewWebhook(body.url, body.events, body.secret)
    return reply(await services.webhooks.create(user_id, workspace_id, hook, key))


@router.get(
    "", summary="The workspace's webhooks", response_model=WebhookList, responses=errors(*WRITE_IN_WORKSPACE)
)
async def list_webhooks(workspace_id: PathId, user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """The workspace's webhooks (admin and up), without their secrets."""
    return {"items": await services.webhooks.list(user_id, workspace_id)}


@router.get(
    "/{hook_id}",
    summary="One webhook and its last attempts",
    response_model=WebhookDetail,
    responses=errors(*WRITE_IN_WORKSPACE),
)
async def get_webhook(
    workspace_id: PathId, hook_id: PathId, user_id: UserId, services: ServicesDep
) -> dict[str, Any]:
    """One webhook with its delivery status and its last attempts (admin and up)."""
    return await services.webhooks.get(user_id, workspace_id, hook_id)


@router.patch(
    "/{hook_id}", summary="Change a webhook", response_model=WebhookOut, responses=errors(*WRITE_IN_WORKSPACE)
)
async def update_webhook(
    workspace_id: PathId,
    hook_id: PathId,
    body: WebhookPatch,
    user_id: UserId,
    services: ServicesDep,
    key: IdemKey,
) -> Response:
    """Changes a webhook's URL, event types or secret (admin and up)."""
    change = WebhookChange(body.url, body.events, "events" in body.model_fields_set, body.secret)
    return reply(await services.webhooks.update(user_id, workspace_id, hook_id, change, key))


@router.delete(
    "/{hook_id}", summary="Delete a webhook", status_code=204, responses=errors(*WRITE_IN_WORKSPACE)
)
async def delete_webhook(
    workspace_id: PathId, hook_id: PathId, user_id: UserId, services: ServicesDep, key: IdemKey
) -> Response:
    """Deletes a webhook: nothing more is sent to it."""
    return reply(await services.webhooks.delete(user_id, workspace_id, hook_id, key))


@router.post(
    "/{hook_id}/replay",
    summary="Send again from a seq",
    response_model=WebhookOut,
    responses=errors(*WRITE_IN_WORKSPACE, 410),
)
async def replay_webhook(
    workspace_id: PathId,
    hook_id: PathId,
    body: ReplayIn,
    user_id: UserId,
    services: ServicesDep,
    key: IdemKey,
) -> Response:
    """Sends the events again from `sinceSeq` on, and makes a failing webhook active again. 410 when the log no longer holds that seq."""
    return reply(await services.webhooks.replay(user_id, workspace_id, hook_id, body.since_seq, key))
