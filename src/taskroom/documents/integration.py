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

from .protocol import MalformedMessage, read_varuint


def clocks(state: bytes) -> dict[int, int]:
    """A state vector as {client: next clock}."""
    count, at = read_varuint(state, 0)
    result: dict[int, int] = {}
    for _ in range(count):
        client, at = read_varuint(state, at)
        clock, at = read_varuint(state, at)
        result[client] = clock
    return result


def integrated(update: bytes, state: bytes) -> bool:
    """Whether a document with state vector `state` holds everything `update` says."""
    try:
        rest = get_update(update, state)
    except ValueError as exc:
        raise MalformedMessage(f"not a Yjs update: {exc}") from None
    structs, at = read_varuint(rest, 0)
    if structs:
        return False
    known = clocks(state)
    clients, at = read_varuint(rest, at)
    for _ in range(clients):
        client, at = read_varuint(rest, at)
        ranges, at = read_varuint(rest, at)
        for _ in range(ranges):
            clock, at = read_varuint(rest, at)
            length, at = read_varuint(rest, at)
            if clock + length > known.get(client, 0):
                return False
    return True
