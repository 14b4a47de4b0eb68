"""Task lists a page at a time: column order, then position, then id (keyset pagination).

The REST list and the `reset` snapshot both read through `read_page`, so every reader sees the
same order and no read loads a whole workspace's tasks at once. A page ends at a key (the last
task's column, position and id); the next page starts strictly after it. A task that does not
change meanwhile therefore appears exactly once, however the tasks around it move.

The cursor handed to clients is that key as base64url of a small JSON object. It is opaque to
them and carries no access: the workspace and the caller's role are checked on every page.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, case, cast, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Task
from ..errors import InvalidField
from ..schemas import COLUMN_KEY_PATTERN

DEFAULT_LIMIT = 200
MAX_LIMIT = 500
# Far above any real key: positions grow by a character or so per insert into one gap.
MAX_CURSOR_CHARS = 4096


def _column_rank(column_keys: Sequence[str]) -> ColumnElement[int]:
    """The column's place in the workspace's board order, in SQL, so the database sorts and
    compares columns in board order rather than by name. Positions compare byte by byte
    (`COLLATE "C"` on PostgreSQL, see the models). A status no column has any more (none should:
    a column that holds tasks cannot be removed) sorts last rather than failing the read."""
    return case(
        {key: rank for rank, key in enumerate(column_keys)}, value=Task.status, else_=len(column_keys)
    )


@dataclass(frozen=True, slots=True)
class TaskFilters:
    status: str | None = None
    completed: bool | None = None
    assignee_id: str | None = None
    priority: str | None = None
    label: str | None = None  # tasks that have this label
    due_before: datetime | None = None  # due strictly before (UTC)
    due_after: datetime | None = None  # due at or after (UTC)
    q: str | None = None  # full-text words (services/task_search.py); ranks instead of board order


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where a page ended: the last task's column, position and id."""

    status: str
    position: str
    task_id: str

    def encode(self) -> str:
        raw = json.dumps({"s": self.status, "p": self.position, "i": self.task_id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")

    @classmethod
    def of(cls, task: Task) -> PageKey:
        return cls(task.status, task.position, task.id)


def decode_cursor(cursor: str) -> PageKey:
    """The key a `nextCursor` names; 422 naming `cursor` for anything this server did not hand out."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        fields: Any = json.loads(raw)
        if not isinstance(fields, dict) or set(fields) != {"s", "p", "i"}:
            raise ValueError("not a key")
        status, position, task_id = fields["s"], fields["p"], fields["i"]
        if not isinstance(status, str) or not re.match(COLUMN_KEY_PATTERN, status):
            raise ValueError("not a key")
        if not _is_text(position) or not _is_text(task_id):
            raise ValueError("not a key")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidField(
            "cursor", "is not a cursor of this list: pass a nextCursor unchanged, or none to start again"
        ) from None
    return PageKey(status, position, task_id)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_CURSOR_CHARS and "\x00" not in value


def filtered(query: Select[Any], filters: TaskFilters, dialect: str) -> Select[Any]:
    """`query` (over `tasks`) narrowed by every filter but `q`."""
    # Trashed tasks are in no list, search, snapshot or page (their own list is the trash).
    query = query.where(Task.live())
    if filters.status is not None:
        query = query.where(Task.status == filters.status)
    if filters.completed is not None:
        query = query.where(Task.completed == filters.completed)
    if filters.assignee_id is not None:
        query = query.where(Task.assignee_id == filters.assignee_id)
    if filters.priority is not None:
        query = query.where(Task.priority == filters.priority)
    if filters.due_before is not None:
        query = query.where(Task.due_date < filters.due_before)
    if filters.due_after is not None:
        query = query.where(Task.due_date >= filters.due_after)
    if filters.label is not None:
        query = query.where(has_label(filters.label, dialect))
    return query


def has_label(label: str, dialect: str) -> ColumnElement[bool]:
    """The task's labels include `label` (exactly, case and all)."""
    if dialect == "postgresql":
        # JSONB containment, which the GIN index (jsonb_path_ops) of migration 0011 serves.
        return Task.labels.op("@>")(func.jsonb_build_array(cast(literal(label), Text)))
    value = func.json_each(Task.labels).table_valued("value")
    return select(literal(1)).select_from(value).where(value.c.value == label).exists()


def task_query(workspace_id: str, filters: TaskFilters, dialect: str) -> Select[Task]:
    return filtered(select(Task).where(Task.workspace_id == workspace_id), filters, dialect)


async def read_page(
    session: AsyncSession,
    workspace_id: str,
    column_keys: Sequence[str],
    filters: TaskFilters,
    limit: int,
    after: PageKey | None,
) -> tuple[Sequence[Task], PageKey | None]:
    """Up to `limit` tasks after `after`, in board order (the workspace's columns, in the order
    `column_keys` gives), and the key to go on from (None: the end)."""
    rank = _column_rank(column_keys)
    query = task_query(workspace_id, filters, session.get_bind().dialect.name)
    if after is not None:
        if after.status not in column_keys:
            raise InvalidField(
                "cursor", "names a column this workspace no longer has: start again without one"
            )
        # A row-value comparison: SQLite (3.15+) and PostgreSQL compare it field by field, which
        # is exactly "after this key" in (column, position, id) order.
        query = query.where(
            tuple_(rank, Task.position, Task.id)
            > tuple_(column_keys.index(after.status), after.position, after.task_id)
        )
    # One row more than asked tells whether another page follows, so the last page says null.
    query = query.order_by(rank, Task.position, Task.id).limit(limit + 1)
    tasks = (await session.scalars(query)).all()
    if len(tasks) <= limit:
        return tasks, None
    page = tasks[:limit]
    return page, PageKey.of(page[-1])
