"""The frames every layer writes: the message vocabulary and the one way a server frame is encoded.

Services (which append events to the log) and the real-time layer (which fans them out) both
import this module, so nothing below `realtime/` imports upward and every frame's text is made
by the same function, once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Any

from .timeutil import format_timestamp, utcnow


class MessageType(StrEnum):
    """Every frame ``type`` of §3, in both directions."""

    CONNECT = "CONNECT"
    AUTHENTICATE = "AUTHENTICATE"
    PING = "PING"
    PONG = "PONG"
    ERROR = "ERROR"
    SYNC_REQUEST = "SYNC_REQUEST"
    SYNC_RESPONSE = "SYNC_RESPONSE"
    PRESENCE_STATE = "PRESENCE_STATE"
    USER_PRESENCE = "USER_PRESENCE"
    USER_TYPING = "USER_TYPING"
    CURSOR_POSITION = "CURSOR_POSITION"
    WORKSPACE_CREATED = "WORKSPACE_CREATED"
    # §7: to one user's own connections, not logged (data {notification, unreadCount}).
    NOTIFICATION = "NOTIFICATION"
    # §3.2: stored in the workspace log, sent with ``seq`` and ``eventId``.
    TASK_CREATED = "TASK_CREATED"
    TASK_UPDATED = "TASK_UPDATED"
    TASK_DELETED = "TASK_DELETED"
    TASK_COMPLETED = "TASK_COMPLETED"
    TASK_MOVED = "TASK_MOVED"
    # §7: a task brought back from the trash (data {workspaceId, task, actorId}).
    TASK_RESTORED = "TASK_RESTORED"
    # §7: comments on a task (data {workspaceId, taskId, comment | commentId, actorId}).
    COMMENT_ADDED = "COMMENT_ADDED"
    COMMENT_UPDATED = "COMMENT_UPDATED"
    COMMENT_DELETED = "COMMENT_DELETED"
    WORKSPACE_UPDATED = "WORKSPACE_UPDATED"
    WORKSPACE_DELETED = "WORKSPACE_DELETED"
    WORKSPACE_MEMBER_ADDED = "WORKSPACE_MEMBER_ADDED"
    WORKSPACE_MEMBER_REMOVED = "WORKSPACE_MEMBER_REMOVED"
    # A project addition beside §3.2: a member's role changed (data {workspaceId, member, actorId}).
    WORKSPACE_MEMBER_UPDATED = "WORKSPACE_MEMBER_UPDATED"


#: The types a client may send; any other ``type`` from a client is UNKNOWN_TYPE.
CLIENT_TYPES: frozenset[MessageType] = frozenset(
    {
        MessageType.AUTHENTICATE,
        MessageType.PING,
        MessageType.SYNC_REQUEST,
        MessageType.USER_PRESENCE,
        MessageType.USER_TYPING,
        MessageType.CURSOR_POSITION,
    }
)

#: The §3.2 event types, stored in a workspace's log (they carry ``seq`` and ``eventId``).
EVENT_TYPES: frozenset[MessageType] = frozenset(
    {
        MessageType.TASK_CREATED,
        MessageType.TASK_UPDATED,
        MessageType.TASK_DELETED,
        MessageType.TASK_COMPLETED,
        MessageType.TASK_MOVED,
        MessageType.TASK_RESTORED,
        MessageType.COMMENT_ADDED,
        MessageType.COMMENT_UPDATED,
        MessageType.COMMENT_DELETED,
        MessageType.WORKSPACE_UPDATED,
        MessageType.WORKSPACE_DELETED,
        MessageType.WORKSPACE_MEMBER_ADDED,
        MessageType.WORKSPACE_MEMBER_REMOVED,
        MessageType.WORKSPACE_MEMBER_UPDATED,
    }
)


class CloseCode(IntEnum):
    """The WebSocket close codes the server sends, on `/api/v1/ws` (§3.5) and on the document
    endpoint (§3.6, docs/descriptions.md). One set for both, so a code means one thing."""

    # The node is shutting down.
    GOING_AWAY = 1001
    # Documents: a frame that is not a y-websocket message, or an update, state vector or
    # awareness update that is not valid.
    PROTOCOL_ERROR = 1002
    # Documents: a text frame (the endpoint speaks binary y-websocket frames only).
    UNSUPPORTED_DATA = 1003
    # Abuse: rate-limit refusals that go on; on documents, too many awareness client ids.
    POLICY_VIOLATION = 1008
    # A frame over WS_MAX_MESSAGE_BYTES; on documents also an update or awareness state past its limits.
    MESSAGE_TOO_BIG = 1009
    # Capacity (connection limits) or a slow consumer; the client comes back later and resumes.
    TRY_AGAIN_LATER = 1013
    # A bad token, or the token in force expired.
    UNAUTHORIZED = 4401
    # Documents: the user is no longer a member of the workspace.
    NO_LONGER_MEMBER = 4403
    # Documents: the task, or its workspace, was deleted.
    TASK_DELETED = 4404
    # `/api/v1/ws`: no AUTHENTICATE within WS_AUTH_TIMEOUT.
    AUTH_TIMEOUT = 4408
    # Documents: the stored document is larger than a connection can be sent; a PATCH of the
    # task's description resets it.
    DOCUMENT_TOO_LARGE = 4413


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def iso_now() -> str:
    """The current time, formatted by :func:`format_timestamp`."""
    return format_timestamp(utcnow())


def encode_server_frame(
    type: str,
    data: Mapping[str, Any],
    *,
    reply_to: str | None = None,
    seq: int | None = None,
    event_id: str | None = None,
    timestamp: str | None = None,
) -> str:
    """Compact JSON text of a server frame: ``{"type","data","timestamp"}`` then, only when given,
    ``replyTo``, ``seq`` and ``eventId``. ``timestamp`` defaults to :func:`iso_now`.

    ``data`` must already be JSON-ready (camelCase keys, times as strings): a value JSON cannot
    hold raises TypeError, NaN or Infinity raises ValueError.
    """
    frame: dict[str, Any] = {
        "type": str(type),
        "data": dict(data),
        "timestamp": iso_now() if timestamp is None else timestamp,
    }
    if reply_to is not None:
        frame["replyTo"] = reply_to
    if seq is not None:
        frame["seq"] = seq
    if event_id is not None:
        frame["eventId"] = event_id
    return compact_json(frame)
