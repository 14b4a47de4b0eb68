"""What travels on the broker: a one-line JSON header, a newline, then the client frame as is.

The frame is encoded once, where the change is committed; nodes read only the small header
to route it, frame the text once and write those bytes to every local recipient unchanged. (Compact JSON
never contains a raw newline, so the first newline always ends the header.)

Four kinds of message share the envelope (`Kind`), each decoded to its own value and handed to
the matching method of a `BrokerEventHandler` (the routing implements it):

- a logged event (`events.LogEvent`), on the workspace's channel;
- an ephemeral frame (`Ephemeral`: presence, typing, cursors), on the workspace's channel;
- a notice to one user's connections (`UserNotice`), on the user's channel;
- revoked credentials (`Revoked`: ended sessions, deleted API keys), on the one channel every
  node listens to (`revocations.py` closes their sockets).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from ..events import LogEvent
from ..wire import MessageType


class Kind(StrEnum):
    EVENT = "event"  # from a workspace log: has seq, goes to the room in seq order
    EPHEMERAL = "ephemeral"  # presence, typing, cursors: to the room, never stored
    USER = "user"  # to one user's own connections (WORKSPACE_CREATED, WORKSPACE_MEMBER_ADDED)
    REVOKED = "revoked"  # sessions ended, API keys deleted: their sockets close on every node


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """A frame that is not logged, relayed to a room's live connections but its origin."""

    workspace_id: str
    type: MessageType
    frame: bytes  # the client frame's UTF-8 JSON text
    origin_connection_id: str | None = None  # skipped on fan-out


@dataclass(frozen=True, slots=True)
class JoinFrom:
    """Join the user's connections to a workspace's room, catching up from `after`."""

    workspace_id: str
    after: int


@dataclass(frozen=True, slots=True)
class UserNotice:
    """For one user's connections on every node: a frame to send, a room to join, or both.

    WORKSPACE_CREATED sends its frame and joins from 0. WORKSPACE_MEMBER_ADDED only joins (from
    just before the event): the room's own copy of the event carries the frame.
    """

    user_id: str
    frame: bytes | None = None
    frame_type: MessageType | None = None  # what `frame` is, for the counters
    join: JoinFrom | None = None


@dataclass(frozen=True, slots=True)
class Revoked:
    """Credentials that no longer count: every socket admitted with one of them closes 4401.

    Ids only (a session's or a key's id is no secret); never a token."""

    session_ids: tuple[str, ...] = ()
    key_ids: tuple[str, ...] = ()


BrokerMessage = LogEvent | Ephemeral | UserNotice | Revoked


class BrokerEventHandler(Protocol):
    """What a node does with each kind of message it receives (or publishes, locally)."""

    def on_event(self, event: LogEvent, published_at: float) -> None: ...

    def on_ephemeral(self, message: Ephemeral) -> None: ...

    def on_user_notice(self, notice: UserNotice) -> None: ...

    def on_revoked(self, revoked: Revoked) -> None: ...


def encode_message(message: BrokerMessage, origin_node_id: str, published_at: float | None = None) -> bytes:
    at = published_at or time.time()
    header: dict[str, Any]
    frame: bytes
    if isinstance(message, LogEvent):
        header = {
            "k": Kind.EVENT,
            "t": message.type,
            "w": message.workspace_id,
            "s": message.seq,
            "e": message.event_id,
            "u": message.subject_user_id,
        }
        frame = message.envelope.encode()
    elif isinstance(message, Ephemeral):
        header = {"k": Kind.EPHEMERAL, "t": message.type, "w": message.workspace_id}
        header["o"] = message.origin_connection_id
        frame = message.frame
    elif isinstance(message, Revoked):
        header = {"k": Kind.REVOKED, "ss": list(message.session_ids), "ks": list(message.key_ids)}
        frame = b""
    else:
        header = {
            "k": Kind.USER,
            "t": message.frame_type,
            "u": message.user_id,
            "f": message.frame is not None,
        }
        if message.join is not None:
            header["j"], header["a"] = message.join.workspace_id, message.join.after
        frame = message.frame or b""
    header["p"], header["n"] = at, origin_node_id
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + frame


def origin_of(payload: bytes) -> tuple[str | None, dict[str, Any], bytes]:
    """The header's origin node, the header, and the frame (split once)."""
    head, _, frame = payload.partition(b"\n")
    header: dict[str, Any] = json.loads(head)
    return header.get("n"), header, frame


def dispatch(header: dict[str, Any], frame: bytes, handler: BrokerEventHandler) -> None:
    """Hand a received message to the handler's method for its kind."""
    kind = Kind(header["k"])
    if kind is Kind.EVENT:
        event = LogEvent(
            header["w"],
            header["s"],
            header.get("e") or "",
            MessageType(header["t"]),
            frame.decode(),
            header.get("u"),
        )
        handler.on_event(event, float(header.get("p") or 0.0))
    elif kind is Kind.EPHEMERAL:
        handler.on_ephemeral(Ephemeral(header["w"], MessageType(header["t"]), frame, header.get("o")))
    elif kind is Kind.REVOKED:
        handler.on_revoked(Revoked(_ids(header.get("ss")), _ids(header.get("ks"))))
    else:
        join = JoinFrom(header["j"], header["a"]) if header.get("j") is not None else None
        frame_type = MessageType(header["t"]) if header.get("t") else None
        handler.on_user_notice(UserNotice(header["u"], frame if header.get("f") else None, frame_type, join))


def _ids(value: Any) -> tuple[str, ...]:
    """A list of ids from a header; anything else in it is not an id and is dropped."""
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))
