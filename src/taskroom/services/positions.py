"""Order keys inside a column: fractional indexing, so a move rewrites only the moved task."""

from __future__ import annotations

from fractional_indexing import generate_key_between


def key_between(before: str | None, after: str | None) -> str:
    """A key strictly between two neighbours (None = open end); keys compare byte by byte."""
    return str(generate_key_between(before, after))
