"""What travels on the broker: a one-line JSON header, a newline, then the client frame as is.

The frame is encoded once, where the change is committed; nodes read only the small header
to route it, frame the text once and write those bytes to every local recipient unchanged. (Compact JSON
never contains a raw newline, so the first newline always ends the header.)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

EVENT = "event"  # from a workspace log: has seq, goes to the room in seq order
EPHEMERAL = "ephemeral"  # presence, typing, cursors: to the room, never stored
USER = "user"  # to one user's own connections (WORKSPACE_CREATED)


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    kind: str
    type: str
    frame: bytes  # the client frame's UTF-8 JSON text
    workspace_id: str | None = None
    seq: int | None = None
    subject_user_id: str | None = None
    origin_connection_id: str | None = None  # skipped on fan-out (the sender of an ephemeral frame)
    join_workspace_id: str | None = None
    published_at: float = 0.0
    origin_node_id: str | None = None  # the node that published it, which delivered it locally already


def encode_message(message: BrokerMessage) -> bytes:
    header = {
        "k": message.kind,
        "t": message.type,
        "w": message.workspace_id,
        "s": message.seq,
        "u": message.subject_user_id,
        "o": message.origin_connection_id,
        "j": message.join_workspace_id,
        "p": message.published_at or time.time(),
        "n": message.origin_node_id,
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + message.frame


def decode_message(payload: bytes) -> BrokerMessage:
    head, _, frame = payload.partition(b"\n")
    header: dict[str, Any] = json.loads(head)
    return BrokerMessage(
        kind=header["k"],
        type=header["t"],
        frame=frame,
        workspace_id=header.get("w"),
        seq=header.get("s"),
        subject_user_id=header.get("u"),
        origin_connection_id=header.get("o"),
        join_workspace_id=header.get("j"),
        published_at=float(header.get("p") or 0.0),
        origin_node_id=header.get("n"),
    )
