"""A workspace's columns and the one meaning of done (PROTOCOL §7).

A task's `status` is the key of one of its workspace's columns, and a task is `completed` exactly
when its column has `done: true`. Completing a task moves it to the first done column,
un-completing it to the first column that is not done, and a move sets `completed` from the
column it lands in. These rules are pure here; `tasks.py` and `workspaces.py` apply them under
the workspace's write lock.

A workspace that never set its columns has the three of protocol v1 (stored as NULL, so
existing rows need no rewrite). A column's key never changes (tasks refer to it); its name and
place do. A column that holds tasks cannot be removed, nor can its `done` flag change: either
would silently change the completion of tasks nobody touched, without an event for each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError, InvalidField


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    name: str
    done: bool

    def wire(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "done": self.done}


DEFAULT_COLUMNS: tuple[Column, ...] = (
    Column("todo", "To do", False),
    Column("in_progress", "In progress", False),
    Column("done", "Done", True),
)
MAX_COLUMNS = 20


class ColumnNotEmpty(ApiError):
    status_code = 409
    code = "COLUMN_NOT_EMPTY"


@dataclass(frozen=True, slots=True)
class Columns:
    """The ordered columns of one workspace."""

    items: tuple[Column, ...]

    @classmethod
    def stored(cls, value: Sequence[dict[str, Any]] | None) -> Columns:
        """From the workspace row's JSON (NULL: the defaults)."""
        if not value:
            return cls(DEFAULT_COLUMNS)
        return cls(tuple(Column(str(c["key"]), str(c["name"]), bool(c["done"])) for c in value))

    @classmethod
    def chosen(cls, columns: Iterable[Column]) -> Columns:
        """Columns an admin asked for: distinct keys, at least one done and one not done."""
        items = tuple(columns)
        keys = [column.key for column in items]
        if len(set(keys)) != len(keys):
            raise InvalidField("columns", "each column needs a key of its own")
        if not any(column.done for column in items):
            raise InvalidField("columns", "needs a column with done: true, where completed tasks go")
        if all(column.done for column in items):
            raise InvalidField("columns", "needs a column that is not done, where open tasks go")
        return cls(items)

    def wire(self) -> list[dict[str, Any]]:
        return [column.wire() for column in self.items]

    def stored_form(self) -> list[dict[str, Any]] | None:
        return None if self.items == DEFAULT_COLUMNS else self.wire()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.items)

    def has(self, key: str) -> bool:
        return any(column.key == key for column in self.items)

    def is_done(self, key: str) -> bool:
        return any(column.key == key and column.done for column in self.items)

    def first_done(self) -> str:
        return next(column.key for column in self.items if column.done)

    def first_open(self) -> str:
        return next(column.key for column in self.items if not column.done)

    def require(self, key: str, field: str = "status") -> str:
        """The key, when it names one of these columns; 422 naming `field` otherwise."""
        if not self.has(key):
            raise InvalidField(field, f"is not a column of this workspace: one of {', '.join(self.keys)}")
        return key

    def changed_meaning(self, new: Columns) -> list[str]:
        """Keys that `new` removes or whose `done` flag it flips: allowed only while empty."""
        kept = {column.key: column.done for column in new.items}
        return [
            column.key for column in self.items if column.key not in kept or kept[column.key] != column.done
        ]
