"""One logged event: the same value from the writing transaction to the room, and back from the log.

The services make it when they append to a workspace log (`services/log.py`) and read it back
for replays and gap fills; the real-time layer routes it to rooms, on this node and (through the
broker) on the others. It sits below both, so the services never import the real-time layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wire import MessageType


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One row of a workspace log, with the envelope exactly as clients receive it."""

    workspace_id: str
    seq: int
    event_id: str
    type: MessageType
    envelope: str  # the client frame's JSON text, encoded once in the writing transaction
    # The member an event is about (added, updated or removed), so rooms can act on membership
    # without decoding the envelope.
    subject_user_id: str | None = None
