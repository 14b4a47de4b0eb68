"""The caller's notifications (PROTOCOL §7)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ..schemas import NotificationList, NotificationsReadIds, NotificationsReadIn
from ..services.notifications import DEFAULT_NOTIFICATION_LIMIT, MAX_NOTIFICATION_LIMIT
from .deps import ServicesDep, UserId
from .responses import AUTHENTICATED, errors

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get(
    "", summary="List my notifications", response_model=NotificationList, responses=errors(*AUTHENTICATED)
)
async def list_notifications(
    user_id: UserId,
    services: ServicesDep,
    unread: Annotated[bool, Query(description="Only those not yet read")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_NOTIFICATION_LIMIT)] = DEFAULT_NOTIFICATION_LIMIT,
) -> dict[str, Any]:
    """The caller's notifications (a mention, a task assigned to them, a comment on a task assigned to them), newest first, with how many are unread. Those of a workspace the caller is no longer a member of are left out. New ones also reach the caller's open connections as `NOTIFICATION`."""
    page = await services.notifications.list(user_id, unread, limit)
    return {"items": page.items, "unreadCount": page.unread_count}


@router.post("/read", summary="Mark notifications read", status_code=204, responses=errors(*AUTHENTICATED))
async def mark_notifications_read(
    body: NotificationsReadIn, user_id: UserId, services: ServicesDep
) -> Response:
    """Marks the caller's notifications `ids` (or `all: true`) read. Ids that are not the caller's own change nothing."""
    await services.notifications.mark_read(
        user_id, body.root.ids if isinstance(body.root, NotificationsReadIds) else None
    )
    return Response(status_code=204)
