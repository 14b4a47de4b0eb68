"""What handlers receive: one server frame, decoded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """A frame from the server. ``seq`` and ``event_id`` are set on logged events (§3.2) only."""

    type: str
    data: dict[str, Any]
    timestamp: str | None = None
    seq: int | None = None
    event_id: str | None = None
    reply_to: str | None = None
    envelope: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def workspace_id(self) -> str | None:
        value = self.data.get("workspaceId")
        return value if isinstance(value, str) else None

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Event:
        """Decode an envelope; a frame without a string ``type`` or an object ``data`` is a ValueError."""
        type_ = frame.get("type")
        data = frame.get("data", {})
        if not isinstance(type_, str) or not isinstance(data, dict):
            raise ValueError("a server frame needs a string 'type' and an object 'data'")
        seq = frame.get("seq")
        return cls(
            type=type_,
            data=data,
            timestamp=_str_or_none(frame.get("timestamp")),
            seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            event_id=_str_or_none(frame.get("eventId")),
            reply_to=_str_or_none(frame.get("replyTo")),
            envelope=frame,
        )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


class ServerError(Exception):
    """The server answered a request with ``ERROR`` (``code`` as in §3.5)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NotConnectedError(ConnectionError):
    """The request needs an open connection, and the connection was lost before it was answered."""


class UnauthorizedError(NotConnectedError):
    """The client stopped as ``unauthorized``: the server refused its tokens (close 4401) and
    the provider had no better one, or none at all. ``close_code`` and ``reason`` are those of
    the last refusal (None when there was none)."""

    def __init__(
        self, close_code: int | None, reason: str | None, why: str = "the token was refused"
    ) -> None:
        detail = f" (close {close_code}{': ' + reason if reason else ''})" if close_code else ""
        super().__init__(f"stopped as unauthorized: {why}{detail}")
        self.close_code = close_code
        self.reason = reason
