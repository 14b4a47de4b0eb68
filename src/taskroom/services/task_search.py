"""Full-text search of a workspace's tasks (`GET /workspaces/{id}/tasks?q=`), best match first.

`q` is cut into words here, the same way on both backends: runs of letters and digits (anything
else separates words, so `e-mail` is the two words `e` and `mail`). A task matches when each
word is a word of its title or description — whole words, lower-cased, no stemming, no stop
words: FTS5's unicode61 tokenizer on SQLite, the 'simple' configuration on PostgreSQL (chosen
over 'english' so the two backends agree and no language is assumed). Migration 0011 builds the
indexes.

Rank, best first, is a pair computed from the task's own text and the query only — never from
statistics of the whole table (bm25's IDF, say), which change whenever anyone anywhere writes and
would reorder tasks that did not change between two pages:
- SQLite: (how many times the words occur in the title, then in the description).
- PostgreSQL: (1 when every word is in the title, else 0; then `ts_rank` with the title weighted
  1.0 and the description 0.2).
Either way a match in the title ranks above a match in the description only.

Pages are a keyset over (rank, id), like the board's (task_pages): a page ends at its last task's
rank and id, the next starts strictly after them, so a task that does not change meanwhile
appears exactly once. The cursor is that key, opaque to clients.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    Text,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Task
from ..errors import InvalidField
from .task_pages import MAX_CURSOR_CHARS, TaskFilters, filtered

# Letters and digits (Python's \w without the underscore, which both engines treat as a separator).
_WORD = re.compile(r"[^\W_]+")
# Marks what highlight() wraps around each match; a title holding this character itself is
# corrected for (the character's own count is subtracted).
_MARK = "\x01"
_TITLE_WEIGHTS = "'{0.1, 0.1, 0.2, 1.0}'::real[]"  # D, C, B (description), A (title)

_FTS = table("tasks_fts", column("rowid"), column("title"), column("description"))
_KEYS = table("task_search_keys", column("id"), column("task_id"))


def query_words(q: str) -> list[str]:
    """The words of `q`, lower-cased. A q of punctuation only has none, and matches nothing."""
    return [word.lower() for word in _WORD.findall(q)]


@dataclass(frozen=True, slots=True)
class SearchKey:
    """Where a page of search results ended: the last task's rank and id."""

    rank: tuple[float, float]
    task_id: str

    def encode(self) -> str:
        raw = json.dumps({"r": list(self.rank), "i": self.task_id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode_search_cursor(cursor: str) -> SearchKey:
    """The key a search page's `nextCursor` names; 422 naming `cursor` for anything else
    (a board-order cursor included: it does not page through search results)."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        fields: Any = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        if not isinstance(fields, dict) or set(fields) != {"r", "i"}:
            raise ValueError("not a key")
        rank, task_id = fields["r"], fields["i"]
        if not isinstance(rank, list) or len(rank) != 2 or not all(_is_number(v) for v in rank):
            raise ValueError("not a key")
        if not isinstance(task_id, str) or not 0 < len(task_id) <= 64 or "\x00" in task_id:
            raise ValueError("not a key")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidField(
            "cursor",
            "is not a cursor of this search: pass a nextCursor unchanged, with the same q, or none to start again",
        ) from None
    return SearchKey((float(rank[0]), float(rank[1])), task_id)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _sqlite_hits(index: int, text_column: ColumnElement[Any]) -> ColumnElement[int]:
    marked = func.highlight(literal_column("tasks_fts"), index, _MARK, "")
    inserted = func.length(marked) - func.length(func.replace(marked, _MARK, ""))
    own = func.length(text_column) - func.length(func.replace(text_column, _MARK, ""))
    return inserted - own


def _ranked_query(
    workspace_id: str, words: list[str], dialect: str
) -> tuple[Select[Any], ColumnElement[Any], ColumnElement[Any]]:
    """The matching tasks of the workspace with their rank pair, unordered."""
    if dialect == "postgresql":
        vector: ColumnElement[Any] = literal_column("tasks.search_vector")
        tsquery = func.plainto_tsquery(
            literal_column("'simple'::regconfig"), cast(literal(" ".join(words)), Text)
        )
        title_only = func.ts_filter(vector, literal_column("'{a}'::\"char\"[]"))
        # Both ranks are floats: the cursor hands them back as JSON numbers.
        in_title = cast(cast(title_only.op("@@")(tsquery), Integer), Float)
        score = cast(func.ts_rank(literal_column(_TITLE_WEIGHTS), vector, tsquery), Float)
        query = select(Task, in_title, score).where(
            Task.workspace_id == workspace_id, vector.op("@@")(tsquery)
        )
        return query, in_title, score
    # Each word a quoted FTS5 string: whatever q holds, it is never read as FTS5 query syntax.
    match = " ".join('"' + word.replace('"', '""') + '"' for word in words)
    ranked = (
        select(
            _KEYS.c.task_id.label("task_id"),
            _sqlite_hits(0, _FTS.c.title).label("r1"),
            _sqlite_hits(1, _FTS.c.description).label("r2"),
        )
        .select_from(_FTS.join(_KEYS, _KEYS.c.id == _FTS.c.rowid))
        .where(literal_column("tasks_fts").op("MATCH")(match))
        .subquery("ranked")
    )
    query = (
        select(Task, ranked.c.r1, ranked.c.r2)
        .join(ranked, ranked.c.task_id == Task.id)
        .where(Task.workspace_id == workspace_id)
    )
    return query, ranked.c.r1, ranked.c.r2


async def read_search_page(
    session: AsyncSession,
    workspace_id: str,
    filters: TaskFilters,
    limit: int,
    after: SearchKey | None,
) -> tuple[Sequence[Task], SearchKey | None]:
    """Up to `limit` matches of `filters.q` after `after`, best first, and the key to go on from."""
    assert filters.q is not None
    words = query_words(filters.q)
    if not words:
        return [], None
    dialect = session.get_bind().dialect.name
    query, first, second = _ranked_query(workspace_id, words, dialect)
    query = filtered(query, filters, dialect)
    if after is not None:
        # Descending rank, ascending id: negate the ranks so one row-value comparison says "after".
        query = query.where(
            tuple_(-first, -second, Task.id) > tuple_(-after.rank[0], -after.rank[1], after.task_id)
        )
    query = query.order_by(first.desc(), second.desc(), Task.id).limit(limit + 1)
    rows = (await session.execute(query)).all()
    tasks = [row[0] for row in rows]
    if len(rows) <= limit:
        return tasks, None
    last = rows[limit - 1]
    return tasks[:limit], SearchKey((float(last[1]), float(last[2])), last[0].id)
