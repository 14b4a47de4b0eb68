"""The y-websocket wire protocol, sans I/O: what a binary frame of the document endpoint says.

A frame is a varint message type, then its body (y-protocols `sync.js`, `awareness.js`, and
y-websocket's provider):

- 0 sync: a varint sub-type — 0 step 1 (a state vector), 1 step 2 (an update), 2 update — then
  the payload as a length-prefixed byte string;
- 1 awareness: one length-prefixed awareness update;
- 2 auth: permission messages (server to client only; ignored when a client sends one);
- 3 query awareness: no body; the answer is the awareness states the server knows.

The frames the server sends are built with pycrdt's own encoders. Reading is done here rather
than with pycrdt's `Decoder` because that one does not check bounds: a truncated or oversized
length would read past the frame or raise an IndexError instead of saying the frame is bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pycrdt import create_awareness_message, create_update_message, write_message

__all__ = [
    "MalformedMessage",
    "Message",
    "MessageType",
    "SyncStep",
    "awareness_message",
    "parse",
    "read_bytes",
    "read_varuint",
    "sync_step1_message",
    "sync_step2_message",
    "update_message",
]


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncStep(IntEnum):
    STEP1 = 0  # "here is my state vector"
    STEP2 = 1  # "here is what you lack"
    UPDATE = 2  # a live change


class MalformedMessage(ValueError):
    """The frame is not a y-websocket message."""


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    payload: bytes = b""  # the state vector, update or awareness update
    step: SyncStep | None = None  # sync messages only


# A varint of more than 10 bytes does not fit 64 bits: no honest client sends one.
_MAX_VARINT_BYTES = 10


def read_varuint(frame: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(at, min(len(frame), at + _MAX_VARINT_BYTES)):
        byte = frame[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise MalformedMessage("truncated or oversized varint")


def read_bytes(frame: bytes, at: int) -> tuple[bytes, int]:
    length, at = read_varuint(frame, at)
    end = at + length
    if end > len(frame):
        raise MalformedMessage("length past the end of the frame")
    return frame[at:end], end


def parse(frame: bytes) -> Message:
    """One client frame as a `Message`; raises `MalformedMessage` when it is not one."""
    kind, at = read_varuint(frame, 0)
    if kind == MessageType.SYNC:
        step, at = read_varuint(frame, at)
        if step not in SyncStep.__members__.values():
            raise MalformedMessage(f"unknown sync step {step}")
        payload, at = read_bytes(frame, at)
        return Message(MessageType.SYNC, payload, SyncStep(step))
    if kind == MessageType.AWARENESS:
        payload, at = read_bytes(frame, at)
        return Message(MessageType.AWARENESS, payload)
    if kind == MessageType.AUTH:
        return Message(MessageType.AUTH)
    if kind == MessageType.QUERY_AWARENESS:
        return Message(MessageType.QUERY_AWARENESS)
    raise MalformedMessage(f"unknown message type {kind}")


def sync_step1_message(state_vector: bytes) -> bytes:
    return bytes((MessageType.SYNC, SyncStep.STEP1)) + write_message(state_vector)


def sync_step2_message(update: bytes) -> bytes:
    return bytes((MessageType.SYNC, SyncStep.STEP2)) + write_message(update)


def update_message(update: bytes) -> bytes:
    return bytes(create_update_message(update))


def awareness_message(awareness_update: bytes) -> bytes:
    return bytes(create_awareness_message(awareness_update))
