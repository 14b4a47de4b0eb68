"""Server-to-client WebSocket frames, built once and written unchanged to every recipient.

A server's frames are not masked (RFC 6455 §5.1), so the bytes of one text frame are the same
for every connection: the fan-out frames an event once and appends that `bytes` object to each
recipient. websockets' own `Frame.serialize` would give the same bytes, but through a frame
object and a buffer per call; these few lines are the whole of it for an unfragmented,
uncompressed text or binary frame (per-message deflate is off on this server).
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81  # FIN + opcode 1 (text)
_FIN_BINARY = 0x82  # FIN + opcode 2 (binary): the document endpoint's y-websocket messages
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """The complete frame carrying `payload` (UTF-8 text) as one unmasked text message."""
    return _frame(_FIN_TEXT, payload)


def binary_frame(payload: bytes) -> bytes:
    """The complete frame carrying `payload` as one unmasked binary message."""
    return _frame(_FIN_BINARY, payload)


def _frame(head: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return _SHORT.pack(head, size) + payload
    if size < 65536:
        return _MEDIUM.pack(head, 126, size) + payload
    return _LONG.pack(head, 127, size) + payload
