"""Awareness updates from clients and other nodes, sans I/O: read with bounds, checked, cleaned.

An awareness update (y-protocols `awareness.js`) is a varuint count, then per client a varuint
client id, a varuint clock and a length-prefixed JSON state (`null`: the client is gone).
It is read here rather than by pycrdt's `Awareness.apply_awareness_update`, which decodes without
bounds checks, takes numbers the JavaScript decoder cannot read (lib0 refuses integers past
2^53 - 1) and JSON that `JSON.parse` refuses (`NaN`, `Infinity`), and keeps any state whole. What
passes is encoded again (pycrdt's `Encoder`), so what the server applies and sends on is only
what it read and checked.

A state is cleaned of what the board would put in a style: `user.color` must be `#rrggbb`,
otherwise it is dropped (the rest of the state stays).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pycrdt import Encoder

from .protocol import MalformedMessage, read_bytes, read_varuint

__all__ = [
    "MAX_SAFE_INTEGER",
    "STATE_MAX_BYTES",
    "AwarenessStateTooLarge",
    "Entry",
    "decode",
    "encode",
    "entry_size",
    "state_json",
]

# JavaScript's Number.MAX_SAFE_INTEGER: lib0's decoder throws on a varuint past it.
MAX_SAFE_INTEGER = 2**53 - 1
# One client's state as JSON. The board's (a name, a colour, two relative positions) is about
# 300 bytes; y-codemirror and y-quill states are of the same order.
STATE_MAX_BYTES = 4096
# Objects and arrays within one another: the board's state has three levels.
MAX_DEPTH = 32
# What an entry costs in an encoded update besides its JSON: client id, clock and length varuints.
ENTRY_OVERHEAD = 24

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class AwarenessStateTooLarge(Exception):
    """A state passes STATE_MAX_BYTES; nothing of the update was applied."""


@dataclass(frozen=True, slots=True)
class Entry:
    client: int
    clock: int
    state: Any  # the decoded JSON state, cleaned; None when the client is gone


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _read_int(update: bytes, at: int, what: str) -> tuple[int, int]:
    value, at = read_varuint(update, at)
    if value > MAX_SAFE_INTEGER:
        raise MalformedMessage(f"awareness {what} {value} is past 2^53 - 1")
    return value, at


def decode(update: bytes) -> list[Entry]:
    """The entries of an awareness update; raises `MalformedMessage` (not one, or numbers past
    2^53 - 1) or `AwarenessStateTooLarge`."""
    count, at = _read_int(update, 0, "count")
    entries: list[Entry] = []
    for _ in range(count):
        client, at = _read_int(update, at, "client id")
        clock, at = _read_int(update, at, "clock")
        raw, at = read_bytes(update, at)
        if len(raw) > STATE_MAX_BYTES:
            raise AwarenessStateTooLarge(f"an awareness state is over {STATE_MAX_BYTES} bytes")
        try:
            # An empty string is read as null, as pycrdt and y-protocols do.
            state = json.loads(raw.decode("utf-8"), parse_constant=_no_constant) if raw else None
        except (ValueError, RecursionError) as exc:
            raise MalformedMessage(f"an awareness state is not JSON: {exc}"[:100]) from None
        if _too_deep(state):
            raise MalformedMessage(f"an awareness state nested deeper than {MAX_DEPTH}")
        entries.append(Entry(client, clock, _clean(state)))
    if at != len(update):
        raise MalformedMessage("bytes after the awareness update")
    return entries


def _too_deep(state: Any) -> bool:
    # Without a bound, encoding it again (here and in pycrdt) could pass Python's recursion limit.
    stack = [(state, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return True
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return False


def _clean(state: Any) -> Any:
    if isinstance(state, dict):
        user = state.get("user")
        if isinstance(user, dict) and "color" in user and not _valid_colour(user["color"]):
            state = {**state, "user": {k: v for k, v in user.items() if k != "color"}}
    return state


def _valid_colour(value: Any) -> bool:
    return isinstance(value, str) and _COLOUR.fullmatch(value) is not None


def state_json(state: Any) -> str:
    """A state as it is encoded, as pycrdt encodes it: ASCII only, so that a lone surrogate (JSON
    allows one in a string) still encodes, and so that its length in characters, which pycrdt's
    `Encoder.write_var_string` writes as the length, is its length in bytes."""
    return json.dumps(state, separators=(",", ":"))


def entry_size(state: Any) -> int:
    """An upper bound on the bytes one live state takes in an encoded update."""
    return len(state_json(state)) + ENTRY_OVERHEAD


def encode(entries: Iterable[Entry]) -> bytes:
    listed = list(entries)
    encoder = Encoder()
    encoder.write_var_uint(len(listed))
    for entry in listed:
        encoder.write_var_uint(entry.client)
        encoder.write_var_uint(entry.clock)
        encoder.write_var_string(state_json(entry.state))
    return encoder.to_bytes()
