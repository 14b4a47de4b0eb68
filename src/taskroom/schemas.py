"""Wire models of the REST API: camelCase JSON, validated by pydantic (PROTOCOL §2)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    StrictBool,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from .timeutil import ensure_utc, format_timestamp


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

# A column's key (PROTOCOL §7): a task's `status` names one of its workspace's columns. Which keys
# a workspace has is checked by the service; the shape is checked here.
COLUMN_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,15}$"
TaskStatus = Annotated[
    str,
    StringConstraints(pattern=COLUMN_KEY_PATTERN),
    Field(description="A column key of the task's workspace (`todo`, `in_progress`, `done` unless changed)"),
]
Priority = Literal["low", "medium", "high", "urgent"]
AssignableRole = Literal["admin", "member", "viewer"]
UserKind = Literal["person", "service"]


def _iso_text(value: object) -> object:
    # Without this a JSON number would pass as a Unix timestamp; the wire promises ISO-8601 text.
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO-8601 date-time string")
    return value


def _utc(value: datetime) -> datetime:
    # Kept at the wire's precision (milliseconds), so a client echoing a time it was shown
    # sends the stored value, not a change.
    try:
        value = ensure_utc(value)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a valid ISO-8601 text whose UTC form is in year 0.
        raise ValueError("must be a date-time whose UTC form lies in years 1 to 9999") from None
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


# Text that is stored or looked up has no NUL character: PostgreSQL text cannot hold one (the
# driver fails), so on every backend it is a 422 rather than a 500 on one of them.
NO_NUL = r"^[^\x00]*$"
# Patterns are written out rather than with `\s`: the server (Rust regex), the schema's readers
# (ECMAScript regex) and Python's str.strip() each count different characters as whitespace, so
# with `\s` the OpenAPI schema would promise emails and names the server refuses.
# Python's whitespace (what strip_whitespace removes), written out for every regex dialect.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# No whitespace of any dialect, no control character, no @.
_EMAIL_PART = rf"[^@{_SPACE}\x00-\x1f\x7f-\x9f\ufeff]+"
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=320,
        pattern=rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$",
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
# Something other than whitespace (which is stripped), and no NUL.
_NAME = rf"^[^\x00]*[^{_SPACE}\x00][^\x00]*$"
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NAME)
]
WorkspaceName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NAME)
]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL)]
DESCRIPTION_MAX_LENGTH = 20_000
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX_LENGTH, pattern=NO_NUL)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
# The largest integer every store and driver takes (a signed 64-bit column); larger is a 422, not a 500.
MAX_INT64 = 2**63 - 1


def _json_integer(value: object) -> object:
    # JSON has one number type: 1.0 is the integer 1 (JSON Schema's "integer" agrees, and a
    # JavaScript client cannot tell them apart); 1.5 stays a float and is refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Strict otherwise: "1" and true are client bugs, not versions.
Version = Annotated[StrictInt, Field(ge=1, le=MAX_INT64), BeforeValidator(_json_integer)]
UtcDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_utc)]
# Output times: one format on the wire whoever serializes the model (our views or FastAPI).
WireTime = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")]


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class RequestModel(WireModel):
    """A request body: a field the endpoint does not take is an error, not silently dropped
    (PATCH {"status": …} must say "use /move", not answer 200 and change nothing)."""

    model_config = ConfigDict(extra="forbid")


class Timestamped(WireModel):
    """An output model; `wire()` is its JSON-ready form, times in the wire's one format."""

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# --- auth -------------------------------------------------------------------------------------


class RegisterIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}]
        }
    )
    email: Email
    password: Password
    name: PersonName


class LoginIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ada@example.com", "password": "correct horse battery"}]}
    )
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class PasswordChangeIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"currentPassword": "correct horse battery", "newPassword": "a longer horse battery"}
            ]
        }
    )

    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Password


RefreshToken = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class RefreshIn(RequestModel):
    refresh_token: RefreshToken


class LogoutIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refreshToken": "trr_EXAMPLEexampleEXAMPLEexampleEXAMPLEex"}]}
    )

    refresh_token: RefreshToken | None = None


class UserOut(Timestamped):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "u-ada",
                    "email": "ada@example.com",
                    "name": "Ada",
                    "createdAt": "2026-11-26T14:00:00.000Z",
                }
            ]
        }
    )
    id: str
    email: str
    name: str
    created_at: WireTime


class AuthOut(Timestamped):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user": {
                        "id": "u-ada",
                        "email": "ada@example.com",
                        "name": "Ada",
                        "createdAt": "2026-11-26T14:00:00.000Z",
                    },
                    "accessToken": "eyJhbGciOiJIUzI1NiJ9.e30.sig",
                    "tokenType": "bearer",
                    "expiresIn": 3600,
                }
            ]
        }
    )
    user: UserOut
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    # Absent when the request asked for the cookie (`X-Taskroom-Refresh: cookie`): the cookie carries it.
    refresh_token: str | None = Field(
        None, description="The session's refresh token; absent with `X-Taskroom-Refresh: cookie`."
    )
    refresh_expires_in: int


class SessionOut(WireModel):
    id: str
    created_at: str
    last_used_at: str
    user_agent: str | None
    current: bool


class SessionList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "7e1d2c3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f",
                            "createdAt": "2026-12-01T09:00:00Z",
                            "lastUsedAt": "2026-12-03T10:00:00Z",
                            "userAgent": "Mozilla/5.0",
                            "current": True,
                        }
                    ]
                }
            ]
        }
    )

    items: list[SessionOut]


# --- workspaces -------------------------------------------------------------------------------


class WorkspaceIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Launch", "description": "Everything for the launch"}]}
    )
    name: WorkspaceName
    description: Description | None = None


ColumnName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=_NAME)
]


class ColumnIn(RequestModel):
    key: TaskStatus
    name: ColumnName
    done: StrictBool = False


class ColumnOut(WireModel):
    key: str
    name: str
    done: bool


class WorkspacePatch(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Launch day"},
                {
                    "columns": [
                        {"key": "todo", "name": "To do", "done": False},
                        {"key": "review", "name": "In review", "done": False},
                        {"key": "done", "name": "Shipped", "done": True},
                    ]
                },
            ]
        }
    )
    name: WorkspaceName | None = None
    description: Description | None = None
    # The whole list, in board order (admin and up): add, rename, reorder. Removing a column that
    # holds tasks, or flipping its `done`, is 409 COLUMN_NOT_EMPTY.
    columns: Annotated[list[ColumnIn], Field(min_length=2, max_length=20)] | None = None


class WorkspaceOut(Timestamped):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "w-1",
                    "name": "Launch",
                    "description": "Everything for the launch",
                    "ownerId": "u-ada",
                    "role": "owner",
                    "seq": 12,
                    "columns": [
                        {"key": "todo", "name": "To do", "done": False},
                        {"key": "in_progress", "name": "In progress", "done": False},
                        {"key": "done", "name": "Done", "done": True},
                    ],
                    "createdAt": "2026-11-26T14:00:00.000Z",
                    "updatedAt": "2026-11-26T14:00:00.000Z",
                }
            ]
        }
    )
    id: str
    name: str
    description: str | None
    owner_id: str
    role: Role
    seq: int
    columns: list[ColumnOut]
    created_at: WireTime
    updated_at: WireTime


class MemberIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "bo@example.com", "role": "member"}]})
    email: Email
    role: AssignableRole


class MemberPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "admin"}]})
    role: AssignableRole


class MemberOut(Timestamped):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "userId": "u-bo",
                    "email": "bo@example.com",
                    "name": "Bo",
                    "role": "member",
                    "joinedAt": "2026-11-26T14:00:00.000Z",
                    "kind": "person",
                }
            ]
        }
    )
    user_id: str
    email: str
    name: str
    role: Role
    joined_at: WireTime
    # "service": an API key's own user (PROTOCOL §5.3); "person" for everyone else.
    kind: UserKind = "person"


# --- invitations ------------------------------------------------------------------------------


class InvitationIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "grace@example.com", "role": "member"}]}
    )

    email: Email
    role: AssignableRole  # never owner: a workspace has one owner, its creator


class InvitationOut(Timestamped):
    """A pending invitation as listed: never its token, which exists only in the creator's answer."""

    id: str
    email: str
    role: Role
    created_by: str
    created_at: WireTime
    expires_at: WireTime


class InvitationCreated(Timestamped):
    """The answer to creating an invitation: the only time its token is shown."""

    id: str
    email: str
    role: Role
    token: str
    expires_at: WireTime


class InvitationList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9",
                            "email": "grace@example.com",
                            "role": "member",
                            "createdAt": "2026-12-03T10:00:00Z",
                            "expiresAt": "2026-12-10T10:00:00Z",
                        }
                    ]
                }
            ]
        }
    )

    items: list[InvitationOut]


class InvitationAccepted(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "workspace": {"id": "2b1f0c3e-8d4a-4f6e-9a51-7c2d9e0b6a11", "name": "Launch"},
                    "member": {"userId": "4d3c2b1a-0f9e-4d8c-b7a6-f5e4d3c2b1a0", "role": "member"},
                }
            ]
        }
    )

    workspace: WorkspaceOut
    member: MemberOut


# --- API keys ---------------------------------------------------------------------------------


class ApiKeyIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Billing sync", "role": "member"}]})

    name: PersonName
    role: AssignableRole  # never owner: a workspace has one owner, its creator


_KEY_EXAMPLE = {
    "id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
    "name": "Billing sync",
    "role": "member",
    "createdAt": "2026-12-04T10:00:00.000Z",
    "createdBy": "4d3c2b1a-0f9e-4d8c-b7a6-f5e4d3c2b1a0",
}


class ApiKeyOut(Timestamped):
    """A key as listed: its prefix, never the key or its hash."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_KEY_EXAMPLE, "prefix": "trk_Q2xvdWR5", "lastUsedAt": None}]}
    )

    id: str
    name: str
    role: Role
    prefix: str
    created_at: WireTime
    created_by: str
    last_used_at: WireTime | None


class ApiKeyCreated(Timestamped):
    """The answer to creating a key: the only time the key is shown."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_KEY_EXAMPLE, "key": "trk_Q2xvdWR5LWRheS1rZXktZXhhbXBsZS0wMTIzNDU2Nzg5"}]
        }
    )

    id: str
    name: str
    role: Role
    key: str
    created_at: WireTime
    created_by: str


class ApiKeyList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [{**_KEY_EXAMPLE, "prefix": "trk_Q2xvdWR5", "lastUsedAt": None}]}]
        }
    )

    items: list[ApiKeyOut]


# --- tasks ------------------------------------------------------------------------------------


LABEL_MAX_LENGTH = 40
MAX_LABELS = 20
# A label: 1 to 40 characters once trimmed, something visible, no NUL (PROTOCOL §7).
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LABEL_MAX_LENGTH, pattern=_NAME)
]


def _distinct(labels: list[str]) -> list[str]:
    # Duplicates (after trimming) are dropped, the first one's place kept.
    return list(dict.fromkeys(labels))


Labels = Annotated[list[Label], Field(max_length=MAX_LABELS), AfterValidator(_distinct)]
_LABELS_SCHEMA = {
    "type": "array",
    "maxItems": MAX_LABELS,
    "items": {"type": "string", "minLength": 1, "maxLength": LABEL_MAX_LENGTH, "pattern": _NAME},
}


class TaskIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Write the plan",
                    "description": "One page",
                    "status": "todo",
                    "priority": "high",
                    "labels": ["launch", "docs"],
                    "assigneeId": "u-bo",
                }
            ]
        }
    )
    title: Title
    description: Description | None = None
    # Left out: the first column that is not done.
    status: TaskStatus | None = None
    assignee_id: Id | None = None
    due_date: UtcDateTime | None = None
    priority: Priority = "medium"
    labels: Labels = []


_TITLE_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 500, "pattern": NO_NUL}
_PRIORITY_SCHEMA = {"type": "string", "enum": ["low", "medium", "high", "urgent"]}


class TaskPatch(RequestModel):
    """Only the fields present are changed; an explicit null clears a nullable field."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Write the plan (v2)", "baseVersion": 1}]}
    )

    # May be left out but not cleared: the schema does not offer null (the validator refuses it).
    title: Annotated[Title | None, WithJsonSchema(_TITLE_SCHEMA)] = None
    description: Description | None = None
    assignee_id: Id | None = None
    due_date: UtcDateTime | None = None
    priority: Annotated[Priority | None, WithJsonSchema(_PRIORITY_SCHEMA)] = None
    # The whole list: [] clears it.
    labels: Annotated[Labels | None, WithJsonSchema(_LABELS_SCHEMA)] = None
    base_version: Version | None = None

    @field_validator("title", "priority", "labels")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only an explicit null reaches here (defaults are not validated): these fields cannot be cleared.
        if value is None:
            raise ValueError("may not be null")
        return value


class TaskCompleteIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"completed": True}]})
    completed: StrictBool  # "yes" or 1 is a client bug, not a completion


class TaskMoveIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "in_progress", "afterId": "t-0", "baseVersion": 1}]}
    )
    status: TaskStatus
    before_id: Id | None = None
    after_id: Id | None = None
    base_version: Version | None = None


_TASK_EXAMPLE: dict[str, Any] = {
    "id": "t-1",
    "workspaceId": "w-1",
    "title": "Write the plan",
    "description": "One page",
    "status": "todo",
    "position": "a0",
    "completed": False,
    "completedAt": None,
    "assigneeId": "u-bo",
    "dueDate": None,
    "priority": "high",
    "labels": ["launch"],
    "createdBy": "u-ada",
    "createdAt": "2026-11-26T14:00:00.000Z",
    "updatedAt": "2026-11-26T14:00:00.000Z",
    "version": 1,
}


class TaskOut(Timestamped):
    model_config = ConfigDict(json_schema_extra={"examples": [_TASK_EXAMPLE]})
    id: str
    workspace_id: str
    title: str
    description: str | None
    status: str
    position: str
    completed: bool
    completed_at: WireTime | None
    assignee_id: str | None
    due_date: WireTime | None
    priority: Annotated[str, Field(json_schema_extra={"enum": ["low", "medium", "high", "urgent"]})]
    labels: list[str]
    created_by: str
    created_at: WireTime
    updated_at: WireTime
    version: int


class WorkspaceList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "w-1",
                            "name": "Launch",
                            "description": "Everything for the launch",
                            "ownerId": "u-ada",
                            "role": "owner",
                            "seq": 12,
                            "columns": [
                                {"key": "todo", "name": "To do", "done": False},
                                {"key": "in_progress", "name": "In progress", "done": False},
                                {"key": "done", "name": "Done", "done": True},
                            ],
                            "createdAt": "2026-11-26T14:00:00.000Z",
                            "updatedAt": "2026-11-26T14:00:00.000Z",
                        }
                    ]
                }
            ]
        }
    )
    items: list[WorkspaceOut]


class MemberList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "userId": "u-bo",
                            "email": "bo@example.com",
                            "name": "Bo",
                            "role": "member",
                            "joinedAt": "2026-11-26T14:00:00.000Z",
                        }
                    ]
                }
            ]
        }
    )
    items: list[MemberOut]


class TaskList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_TASK_EXAMPLE],
                    "nextCursor": None,
                }
            ]
        }
    )
    items: list[TaskOut]
    # Opaque; null on the last page.
    next_cursor: str | None


class TrashedTaskOut(TaskOut):
    """A task in the trash: the task as it was, and when and by whom it was deleted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_TASK_EXAMPLE, "deletedAt": "2026-11-27T09:30:00.000Z", "deletedBy": "u-bo"}]
        }
    )
    deleted_at: WireTime
    deleted_by: str | None


class TrashList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {**_TASK_EXAMPLE, "deletedAt": "2026-11-27T09:30:00.000Z", "deletedBy": "u-bo"}
                    ],
                    "nextCursor": None,
                }
            ]
        }
    )
    items: list[TrashedTaskOut]
    # Opaque; null on the last page.
    next_cursor: str | None


class FieldChange(WireModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"from": "todo", "to": "in_progress"}]})
    # `from` is a keyword in Python; the wire names are the protocol's.
    before: Any = Field(alias="from")
    after: Any = Field(alias="to")


class ActivityItem(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "seq": 7,
                    "type": "TASK_MOVED",
                    "actorId": "u-bo",
                    "timestamp": "2026-11-27T09:30:00.000Z",
                    "changes": {"status": {"from": "todo", "to": "in_progress"}},
                }
            ]
        }
    )
    seq: int
    type: str
    actor_id: str | None
    timestamp: str
    changes: dict[str, FieldChange]


class ActivityPage(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "seq": 7,
                            "type": "TASK_UPDATED",
                            "actorId": "u-bo",
                            "timestamp": "2026-11-27T09:30:00.000Z",
                            "changes": {"title": {"from": "Write the plan", "to": "Write the plan (v2)"}},
                        },
                        {
                            "seq": 3,
                            "type": "TASK_CREATED",
                            "actorId": "u-ada",
                            "timestamp": "2026-11-26T14:00:00.000Z",
                            "changes": {"title": {"from": None, "to": "Write the plan"}},
                        },
                    ],
                    "hasMore": False,
                }
            ]
        }
    )
    items: list[ActivityItem]
    has_more: bool


# --- comments and notifications (PROTOCOL §7) ----------------------------------------------------

COMMENT_MAX_LENGTH = 10_000
CommentBody = Annotated[str, StringConstraints(min_length=1, max_length=COMMENT_MAX_LENGTH, pattern=NO_NUL)]

_COMMENT_EXAMPLE: dict[str, Any] = {
    "id": "c-1",
    "taskId": "t-1",
    "authorId": "u-ada",
    "body": "@{u-bo} can you take this one?",
    "mentions": ["u-bo"],
    "createdAt": "2026-11-27T09:30:00.000Z",
    "editedAt": None,
}


class CommentIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"body": "@{u-bo} can you take this one?"}]})
    # `@{userId}` mentions that member of the workspace; other text is kept as written.
    body: CommentBody


class CommentOut(Timestamped):
    model_config = ConfigDict(json_schema_extra={"examples": [_COMMENT_EXAMPLE]})
    id: str
    task_id: str
    author_id: str
    body: str
    mentions: list[str]
    created_at: WireTime
    edited_at: WireTime | None


class CommentList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_COMMENT_EXAMPLE], "nextCursor": None}]}
    )
    items: list[CommentOut]
    # Opaque; null on the last page.
    next_cursor: str | None


NotificationKind = Literal["mention", "assigned", "comment"]

_NOTIFICATION_EXAMPLE: dict[str, Any] = {
    "id": "n-1",
    "kind": "mention",
    "workspaceId": "w-1",
    "taskId": "t-1",
    "actorId": "u-ada",
    "createdAt": "2026-11-27T09:30:00.000Z",
    "readAt": None,
}


class NotificationOut(Timestamped):
    model_config = ConfigDict(json_schema_extra={"examples": [_NOTIFICATION_EXAMPLE]})
    id: str
    kind: NotificationKind
    workspace_id: str
    task_id: str | None
    actor_id: str | None
    created_at: WireTime
    read_at: WireTime | None


class NotificationList(WireModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_NOTIFICATION_EXAMPLE], "unreadCount": 1}]}
    )
    items: list[NotificationOut]
    unread_count: int


MAX_NOTIFICATION_IDS = 500


class NotificationsReadIds(RequestModel):
    """These of the caller's notifications (ids of anyone else's change nothing)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"ids": ["n-1"]}]})
    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_NOTIFICATION_IDS)]


class NotificationsReadAll(RequestModel):
    """Every one of the caller's notifications."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"all": True}]})
    all: Literal[True]


class NotificationsReadIn(RootModel[NotificationsReadIds | NotificationsReadAll]):
    """Either `ids` or `all: true`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"ids": ["n-1", "n-2"]}, {"all": True}]})


class WorkspaceSnapshot(WireModel):
    """The workspace at one moment: its members, a page of its tasks, and the log's head then."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "workspace": {
                        "id": "w-1",
                        "name": "Launch",
                        "description": None,
                        "ownerId": "u-ada",
                        "role": "owner",
                        "seq": 12,
                        "columns": [
                            {"key": "todo", "name": "To do", "done": False},
                            {"key": "in_progress", "name": "In progress", "done": False},
                            {"key": "done", "name": "Done", "done": True},
                        ],
                        "createdAt": "2026-11-26T14:00:00.000Z",
                        "updatedAt": "2026-11-26T14:00:00.000Z",
                    },
                    "members": [
                        {
                            "userId": "u-ada",
                            "email": "ada@example.com",
                            "name": "Ada",
                            "role": "owner",
                            "joinedAt": "2026-11-26T14:00:00.000Z",
                        }
                    ],
                    "tasks": [_TASK_EXAMPLE],
                    "latestSeq": 12,
                    "nextCursor": None,
                }
            ]
        }
    )
    workspace: WorkspaceOut
    members: list[MemberOut]
    tasks: list[TaskOut]
    # Apply the events after this seq (of the first page) to the pages to reach the current state.
    latest_seq: int
    # Opaque; null on the last page.
    next_cursor: str | None


class EventOut(WireModel):
    """A logged event: the same envelope a WebSocket client receives (PROTOCOL §3.2)."""

    model_config = ConfigDict(extra="allow")

    type: str
    data: dict[str, Any]
    timestamp: str
    seq: int
    event_id: str


class EventsPage(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "type": "TASK_CREATED",
                            "data": {
                                "workspaceId": "w-1",
                                "task": _TASK_EXAMPLE,
                                "actorId": "u-ada",
                            },
                            "timestamp": "2026-11-26T14:00:00.000Z",
                            "seq": 12,
                            "eventId": "e-12",
                        }
                    ],
                    "latestSeq": 12,
                    "hasMore": False,
                }
            ]
        }
    )
    events: list[EventOut]
    latest_seq: int
    has_more: bool


# --- errors -----------------------------------------------------------------------------------


class FieldError(WireModel):
    field: str
    message: str


class ErrorDetail(WireModel):
    code: str = Field(
        description="What went wrong, for programs: UNAUTHORIZED, INVALID_CREDENTIALS, INVALID_REFRESH_TOKEN, FORBIDDEN, NOT_FOUND, "
        "CONFLICT, ALREADY_EXISTS, GONE, VALIDATION_ERROR, IDEMPOTENCY_KEY_REUSED, RATE_LIMITED, "
        "METHOD_NOT_ALLOWED"
    )
    message: str = Field(description="What went wrong, for people")
    fields: list[FieldError] | None = Field(
        None, description="The failing fields (VALIDATION_ERROR) or the clashing ones (CONFLICT)"
    )
    current: TaskOut | None = Field(None, description="The task as it is now (CONFLICT)")


class ErrorOut(WireModel):
    """Every error answer: `{"error": {"code", "message", ...}}` (PROTOCOL §2)."""

    error: ErrorDetail


# --- health -----------------------------------------------------------------------------------


class HealthChecks(WireModel):
    database: Literal["ok", "down"]
    broker: Literal["ok", "down"]


class HealthOut(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "nodeId": "node-1",
                    "uptimeSeconds": 42.5,
                    "connections": 3,
                    "checks": {"database": "ok", "broker": "ok"},
                }
            ]
        }
    )
    status: Literal["ok", "degraded"]
    node_id: str
    uptime_seconds: float
    connections: int
    checks: HealthChecks
