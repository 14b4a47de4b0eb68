"""Whether a Yjs update is all in a document, or left something waiting for what it depends on.

A Yjs document parks an update whose dependencies have not arrived (a struct after a gap in its
client's clock, a deletion of items it does not have) in its *pending* store: no transaction
event, nothing in `get_update()`, and pycrdt shows no other sign of it. What is still missing is
found from the update and the document's state vector: `pycrdt.get_update(update, state)` keeps
the structs the state lacks and the whole delete set. The document has all of it when no struct
is left and every deleted range lies below its clocks. pycrdt decodes neither a state vector nor
a delete set, so those two small formats (lib0 varints, y-protocols' encoding v1) are read here.
"""

from __future__ import annotations

from pycrdt import get_update

from .protocol import MalformedMessage

# A varint of more than 10 bytes does not fit 64 bits.
_MAX_VARINT_BYTES = 10


def _varuint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(at, min(len(data), at + _MAX_VARINT_BYTES)):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise MalformedMessage("truncated varint in a Yjs update")


def clocks(state: bytes) -> dict[int, int]:
    """A state vector as {client: next clock}."""
    count, at = _varuint(state, 0)
    result: dict[int, int] = {}
    for _ in range(count):
        client, at = _varuint(state, at)
        clock, at = _varuint(state, at)
        result[client] = clock
    return result


def integrated(update: bytes, state: bytes) -> bool:
    """Whether a document with state vector `state` holds everything `update` says."""
    try:
        rest = get_update(update, state)
    except ValueError as exc:
        raise MalformedMessage(f"not a Yjs update: {exc}") from None
    structs, at = _varuint(rest, 0)
    if structs:
        return False
    known = clocks(state)
    clients, at = _varuint(rest, at)
    for _ in range(clients):
        client, at = _varuint(rest, at)
        ranges, at = _varuint(rest, at)
        for _ in range(ranges):
            clock, at = _varuint(rest, at)
            length, at = _varuint(rest, at)
            if clock + length > known.get(client, 0):
                return False
    return True
