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
    StrictBool,
    StrictInt,
    StringConstraints,
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

TaskStatus = Literal["todo", "in_progress", "done"]
TASK_STATUSES: tuple[str, ...] = ("todo", "in_progress", "done")
Priority = Literal["low", "medium", "high", "urgent"]
AssignableRole = Literal["admin", "member", "viewer"]


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


Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
WorkspaceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500)]
DESCRIPTION_MAX_LENGTH = 20_000
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX_LENGTH)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# The largest integer every store and driver takes (a signed 64-bit column); larger is a 422, not a 500.
MAX_INT64 = 2**63 - 1
# Strict: "1" and true are client bugs, not versions.
Version = Annotated[StrictInt, Field(ge=1, le=MAX_INT64)]
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
    email: Email
    password: Password
    name: PersonName


class LoginIn(RequestModel):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class UserOut(Timestamped):
    id: str
    email: str
    name: str
    created_at: WireTime


class AuthOut(Timestamped):
    user: UserOut
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


# --- workspaces -------------------------------------------------------------------------------


class WorkspaceIn(RequestModel):
    name: WorkspaceName
    description: Description | None = None


class WorkspacePatch(RequestModel):
    name: WorkspaceName | None = None
    description: Description | None = None


class WorkspaceOut(Timestamped):
    id: str
    name: str
    description: str | None
    owner_id: str
    role: Role
    seq: int
    created_at: WireTime
    updated_at: WireTime


class MemberIn(RequestModel):
    email: Email
    role: AssignableRole


class MemberPatch(RequestModel):
    role: AssignableRole


class MemberOut(Timestamped):
    user_id: str
    email: str
    name: str
    role: Role
    joined_at: WireTime


# --- tasks ------------------------------------------------------------------------------------


class TaskIn(RequestModel):
    title: Title
    description: Description | None = None
    status: TaskStatus = "todo"
    assignee_id: Id | None = None
    due_date: UtcDateTime | None = None
    priority: Priority = "medium"


class TaskPatch(RequestModel):
    """Only the fields present are changed; an explicit null clears a nullable field."""

    title: Title | None = None
    description: Description | None = None
    assignee_id: Id | None = None
    due_date: UtcDateTime | None = None
    priority: Priority | None = None
    base_version: Version | None = None

    @field_validator("title", "priority")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only an explicit null reaches here (defaults are not validated): these fields cannot be cleared.
        if value is None:
            raise ValueError("may not be null")
        return value


class TaskCompleteIn(RequestModel):
    completed: StrictBool  # "yes" or 1 is a client bug, not a completion


class TaskMoveIn(RequestModel):
    status: TaskStatus
    before_id: Id | None = None
    after_id: Id | None = None
    base_version: Version | None = None


class TaskOut(Timestamped):
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
    priority: str
    created_by: str
    created_at: WireTime
    updated_at: WireTime
    version: int


class Items(WireModel):
    items: list[Any]


class EventsPage(WireModel):
    events: list[dict[str, Any]]
    latest_seq: int
    has_more: bool
