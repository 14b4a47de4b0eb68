"""The WebSocket wire protocol (PROTOCOL.md §3) as pure code: no sockets, no clock, no asyncio.

Everything here turns bytes into values or values into text, or checks a transition, so it
is tested without a server. The connection handler owns the I/O and asks this module:

* :func:`parse_client_frame` -- is this frame well formed? (else a :class:`ProtocolError` to answer)
* :func:`encode_server_frame` / :func:`encode_error` -- the exact text to send back.
* :class:`LatestWinsThrottle` -- which cursor update to forward, and when.

Error tree (each error class has one :class:`ErrorCode`, sent as ``ERROR {code, message, replyTo?}``)::

    ProtocolError
    ├── InvalidMessage     INVALID_MESSAGE   malformed JSON, not an object, bad UTF-8, bad or missing field
    ├── UnknownType        UNKNOWN_TYPE      not a client->server type (server-only types included)
    ├── NotAuthenticated   NOT_AUTHENTICATED anything but AUTHENTICATE/PING before authentication
    ├── Unauthorized       UNAUTHORIZED      bad token, or re-authentication as another user (close 4401)
    ├── TokenExpired       TOKEN_EXPIRED     the token in force expired (close 4401)
    ├── Forbidden          FORBIDDEN         a workspace the connection has not joined
    ├── RateLimited        RATE_LIMITED      over the message rate
    ├── FeatureDisabled    FEATURE_DISABLED  presence, typing or cursors switched off
    └── InternalError      INTERNAL          the server failed

Which frames each phase of a connection accepts is the conversation's (`conversation.py`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeAlias, TypeVar

import pydantic_core
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from ..wire import (
    CLIENT_TYPES,
    EVENT_TYPES,
    CloseCode,
    MessageType,
    compact_json,
    encode_server_frame,
    iso_now,
)

# Re-exported: the protocol's vocabulary, for callers that speak only to this module.
__all__ = [
    "CLIENT_TYPES",
    "EVENT_TYPES",
    "AuthenticateFrame",
    "ClientFrame",
    "CloseCode",
    "CursorPositionFrame",
    "ErrorCode",
    "FeatureDisabled",
    "Forbidden",
    "InternalError",
    "InvalidMessage",
    "LatestWinsThrottle",
    "MessageType",
    "NotAuthenticated",
    "PingFrame",
    "ProtocolError",
    "RateLimited",
    "SyncRequestFrame",
    "TokenExpired",
    "Unauthorized",
    "UnknownType",
    "UserPresenceFrame",
    "UserTypingFrame",
    "encode_error",
    "encode_server_frame",
    "iso_now",
    "parse_client_frame",
]

# --------------------------------------------------------------------------- vocabulary


class ErrorCode(StrEnum):
    """The ``code`` of an ERROR frame (§3.5)."""

    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    UNAUTHORIZED = "UNAUTHORIZED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    FEATURE_DISABLED = "FEATURE_DISABLED"
    INTERNAL = "INTERNAL"


# --------------------------------------------------------------------------- errors


class ProtocolError(Exception):
    """A client frame that must be answered with ``ERROR``; the connection stays open unless
    :attr:`close_code` says otherwise.

    ``reply_to`` is the offending frame's ``id`` (when it had a string one), so the client can
    match the error to its request. ``message`` is for people; clients branch on ``code``.
    """

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    #: The close code §3 pairs with this error, or None when the connection stays open.
    close_code: ClassVar[CloseCode | None] = None

    def __init__(self, message: str, *, reply_to: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reply_to = reply_to

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reply_to={self.reply_to!r})"


class InvalidMessage(ProtocolError):
    code = ErrorCode.INVALID_MESSAGE


class UnknownType(ProtocolError):
    code = ErrorCode.UNKNOWN_TYPE


class NotAuthenticated(ProtocolError):
    code = ErrorCode.NOT_AUTHENTICATED


class Unauthorized(ProtocolError):
    code = ErrorCode.UNAUTHORIZED
    close_code = CloseCode.UNAUTHORIZED


class TokenExpired(ProtocolError):
    code = ErrorCode.TOKEN_EXPIRED
    close_code = CloseCode.UNAUTHORIZED


class Forbidden(ProtocolError):
    code = ErrorCode.FORBIDDEN


class RateLimited(ProtocolError):
    code = ErrorCode.RATE_LIMITED


class FeatureDisabled(ProtocolError):
    code = ErrorCode.FEATURE_DISABLED


class InternalError(ProtocolError):
    code = ErrorCode.INTERNAL


# --------------------------------------------------------------------------- client frames

MAX_ID_LENGTH = 128
MAX_TOKEN_LENGTH = 8192
MAX_LIST_ITEMS = 1000
MAX_CURSOR_KEYS = 32
MAX_CURSOR_BYTES = 1024
DEFAULT_SYNC_LIMIT = 500
MAX_SYNC_LIMIT = 1000

# No NUL: an id is looked up in the database, and PostgreSQL cannot compare text holding one.
Id = Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[^\x00]*$")]
# A seq is a 64-bit integer in the database: anything larger is out of range, not a query.
MAX_SEQ = 2**63 - 1
Seq = Annotated[StrictInt, Field(ge=0, le=MAX_SEQ)]
PresenceStatus: TypeAlias = Literal["online", "away", "busy"]


_CURSOR_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
MAX_CURSOR_DEPTH = 4


def _small_json_object(value: dict[str, Any]) -> dict[str, Any]:
    # A cursor is relayed to every room member up to 20 times a second, and shown by their
    # pages: bound its size and shape here, once, rather than trusting every client. Its names,
    # at every level, are identifiers (no markup, nothing to mistake for a path or a selector).
    if len(value) > MAX_CURSOR_KEYS:
        raise ValueError(f"at most {MAX_CURSOR_KEYS} keys allowed")
    _check_names(value, depth=0)
    try:
        size = len(compact_json(value).encode())
    except (TypeError, ValueError) as exc:  # only reachable from Python callers, JSON input always encodes
        raise ValueError("must be a JSON object") from exc
    if size > MAX_CURSOR_BYTES:
        raise ValueError(f"at most {MAX_CURSOR_BYTES} bytes of JSON allowed")
    return value


def _check_names(value: object, depth: int) -> None:
    if depth > MAX_CURSOR_DEPTH:
        raise ValueError(f"at most {MAX_CURSOR_DEPTH} levels of nesting allowed")
    if isinstance(value, dict):
        for key, item in value.items():
            if not _CURSOR_KEY.fullmatch(key):
                raise ValueError("keys must be identifiers of at most 32 characters")
            _check_names(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_names(item, depth + 1)


class _Data(BaseModel):
    # Extra fields are ignored (not rejected) so that newer clients keep working; strict types
    # make a wrong JSON type fail instead of being coerced ("1" is not 1, 1 is not true).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class AuthenticateData(_Data):
    token: Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]
    workspace_ids: Annotated[list[Id], Field(max_length=MAX_LIST_ITEMS)] | None = None
    resume: Annotated[dict[Id, Seq], Field(max_length=MAX_LIST_ITEMS)] | None = None


class PingData(_Data):
    """Any object: PING's data carries nothing the server reads."""


class UserPresenceData(_Data):
    workspace_id: Id
    status: PresenceStatus


class UserTypingData(_Data):
    workspace_id: Id
    task_id: Id
    is_typing: StrictBool


class CursorPositionData(_Data):
    workspace_id: Id
    task_id: Id | None = None
    position: Annotated[dict[str, Any], AfterValidator(_small_json_object)]


class SyncRequestData(_Data):
    workspace_id: Id
    since_seq: Seq
    limit: Annotated[StrictInt, Field(ge=1, le=MAX_SYNC_LIMIT)] = DEFAULT_SYNC_LIMIT


def _string_or_number(value: object) -> str | int | float | None:
    # One plain check rather than a union, whose errors would list every member tried.
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    raise ValueError("must be a string or a number")


class _Frame(BaseModel):
    """The envelope. Absent ``data`` means ``{}`` (:func:`parse_client_frame` reads null as absent too);
    ``timestamp`` is accepted as a string or a number (the original design sent epoch milliseconds)
    and otherwise ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    timestamp: Annotated[str | int | float | None, PlainValidator(_string_or_number)] = None
    id: Annotated[StrictStr, StringConstraints(max_length=MAX_ID_LENGTH)] | None = None


class AuthenticateFrame(_Frame):
    type: Literal[MessageType.AUTHENTICATE]
    data: AuthenticateData = Field(default_factory=dict, validate_default=True)


class PingFrame(_Frame):
    type: Literal[MessageType.PING]
    data: PingData = Field(default_factory=PingData)


class UserPresenceFrame(_Frame):
    type: Literal[MessageType.USER_PRESENCE]
    data: UserPresenceData = Field(default_factory=dict, validate_default=True)


class UserTypingFrame(_Frame):
    type: Literal[MessageType.USER_TYPING]
    data: UserTypingData = Field(default_factory=dict, validate_default=True)


class CursorPositionFrame(_Frame):
    type: Literal[MessageType.CURSOR_POSITION]
    data: CursorPositionData = Field(default_factory=dict, validate_default=True)


class SyncRequestFrame(_Frame):
    type: Literal[MessageType.SYNC_REQUEST]
    data: SyncRequestData = Field(default_factory=dict, validate_default=True)


ClientFrame: TypeAlias = Annotated[
    AuthenticateFrame
    | PingFrame
    | UserPresenceFrame
    | UserTypingFrame
    | CursorPositionFrame
    | SyncRequestFrame,
    Field(discriminator="type"),
]

#: Validates one decoded client frame (a dict) into a :data:`ClientFrame`.
CLIENT_FRAME_ADAPTER: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)

# Reported field errors per ERROR frame: enough to fix the client, bounded in size.
_MAX_REPORTED_ERRORS = 5


def _describe(exc: ValidationError, tag: str) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:_MAX_REPORTED_ERRORS]:
        loc = error["loc"]
        if loc and loc[0] == tag:  # the discriminated union prefixes the tag; the client never wrote it
            loc = loc[1:]
        parts.append(f"{'.'.join(str(part) for part in loc) or '(frame)'}: {error['msg']}")
    if exc.error_count() > _MAX_REPORTED_ERRORS:
        parts.append(f"and {exc.error_count() - _MAX_REPORTED_ERRORS} more")
    return "; ".join(parts)


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Decode and validate one client frame.

    Returns a frozen frame model whose ``type`` is a client type of :data:`CLIENT_TYPES`.

    Raises :class:`InvalidMessage` for bytes that are not UTF-8, text that is not JSON (NaN and
    Infinity included), JSON that is not an object, a missing or non-string ``type``, and any
    missing or invalid field (the message names them, e.g. ``data.workspaceId: Field required``).
    Raises :class:`UnknownType` for a ``type`` string that is not a client type, server-only types
    such as PONG included. Either error's ``reply_to`` is the frame's ``id`` when the decoded object
    had a string one. Size limits are the caller's: check ``WS_MAX_MESSAGE_BYTES`` first.
    """
    try:
        if isinstance(raw, str):  # a str can hold lone surrogates, which no UTF-8 frame can
            raw = raw.encode()
        obj = pydantic_core.from_json(raw, allow_inf_nan=False)
    except UnicodeEncodeError:
        raise InvalidMessage("malformed text: not encodable as UTF-8") from None
    except ValueError as exc:  # bad UTF-8, bad JSON, or nesting too deep
        raise InvalidMessage(f"malformed JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidMessage("a frame must be a JSON object")
    reply_to = obj.get("id") if isinstance(obj.get("id"), str) else None
    tag = obj.get("type")
    if not isinstance(tag, str):
        raise InvalidMessage("type: a string is required", reply_to=reply_to)
    if tag not in CLIENT_TYPES:
        raise UnknownType(f"unknown message type for a client: {tag[:MAX_ID_LENGTH]!r}", reply_to=reply_to)
    if obj.get("data", ...) is None:  # null is read as absent, like a missing key
        del obj["data"]
    try:
        return CLIENT_FRAME_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise InvalidMessage(_describe(exc, tag), reply_to=reply_to) from None


# --------------------------------------------------------------------------- server frames


def encode_error(err: ProtocolError, *, timestamp: str | None = None) -> str:
    """The ERROR frame answering ``err``: data ``{code, message, replyTo?}``, ``replyTo`` on the
    envelope too when the failing frame had an id."""
    data: dict[str, Any] = {"code": str(err.code), "message": err.message}
    if err.reply_to is not None:
        data["replyTo"] = err.reply_to
    return encode_server_frame(MessageType.ERROR, data, reply_to=err.reply_to, timestamp=timestamp)


# --------------------------------------------------------------------------- cursor throttle

T = TypeVar("T")


class LatestWinsThrottle(Generic[T]):
    """Spaces out a stream of updates where only the newest matters (cursor positions).

    Guarantees, given a non-decreasing ``now``:

    * at most one item is released per ``min_interval`` (two releases are ``min_interval`` apart);
    * the latest wins: an item held back is replaced by any newer offer, and a replaced item is
      never released;
    * nothing is released twice, and the last item offered is never lost: once held, it is
      released by :meth:`take_due` at or after :meth:`due_at` (or superseded by a later offer
      that is released).

    Pure and clock-injected: the caller passes ``now`` and schedules a wake-up at :meth:`due_at`.
    Items must not be None (None means "nothing to send").
    """

    def __init__(self, min_interval: float) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must be >= 0")
        self.min_interval = min_interval
        self._last_sent: float | None = None
        self._pending: T | None = None

    def _ready(self, now: float) -> bool:
        # The same sum as `due_at`: a wake-up at exactly `due_at()` finds the item due (a
        # difference `now - last_sent` can fall a rounding short of the interval).
        return self._last_sent is None or now >= self._last_sent + self.min_interval

    def offer(self, now: float, item: T) -> T | None:
        """Return ``item`` if it may be sent now; else hold it as the pending item (replacing
        any older one) and return None."""
        if self._ready(now):
            self._last_sent = now
            self._pending = None  # older than ``item``, which goes now
            return item
        self._pending = item
        return None

    def due_at(self) -> float | None:
        """When the pending item may be sent, or None when nothing is pending."""
        if self._pending is None or self._last_sent is None:
            return None
        return self._last_sent + self.min_interval

    def take_due(self, now: float) -> T | None:
        """Return the pending item (and forget it) if it is due at ``now``; else None."""
        if self._pending is None or not self._ready(now):
            return None
        item, self._pending = self._pending, None
        self._last_sent = now
        return item
