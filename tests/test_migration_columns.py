"""Migration 0010 (columns): existing tasks come to agree with the one meaning of done, and the
migration goes down and up again, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command

from taskroom.db.migrate import alembic_config, schema_status, upgrade
from tests.conftest import BACKENDS
from tests.support.schema import run_sql, tables_and_columns

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
# (id, status, completed, completed_at) as protocol v1 let them be: two meanings of done.
TASKS = [
    ("t-open", "todo", False, None),
    ("t-ticked", "todo", True, datetime(2026, 11, 29, 10, tzinfo=UTC)),  # ticked, left in To do
    ("t-dropped", "done", False, None),  # moved to Done, never ticked
    ("t-both", "done", True, datetime(2026, 11, 28, 9, tzinfo=UTC)),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_existing_tasks_come_to_agree_with_their_column(
    backend: str, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(backend)
    command.upgrade(alembic_config(url), "0008")
    statements: list[tuple[str, dict[str, Any]]] = [
        (
            "INSERT INTO users (id, email, name, password_hash, created_at)"
            " VALUES ('u-1', 'ada@example.test', 'Ada', 'x', :now)",
            {"now": NOW},
        ),
        (
            "INSERT INTO workspaces (id, name, owner_id, seq, log_floor, created_at, updated_at)"
            " VALUES ('w-1', 'Old', 'u-1', 0, 0, :now, :now)",
            {"now": NOW},
        ),
    ]
    for index, (task_id, status, completed, completed_at) in enumerate(TASKS):
        statements.append(
            (
                "INSERT INTO tasks (id, workspace_id, title, status, position, completed, completed_at,"
                " priority, created_by, created_at, updated_at, version, field_versions)"
                " VALUES (:id, 'w-1', :id, :status, :position, :completed, :completed_at, 'medium', 'u-1',"
                " :now, :now, 1, '{}')",
                {
                    "id": task_id,
                    "status": status,
                    "position": f"a{index}",
                    "completed": completed,
                    "completed_at": completed_at,
                    "now": NOW,
                },
            )
        )
    run_sql(url, statements)

    upgrade(url)
    assert schema_status(url).up_to_date
    (rows,) = run_sql(
        url, [("SELECT id, status, completed, completed_at, version FROM tasks ORDER BY id", {})]
    )
    after = {row[0]: row[1:] for row in rows}
    assert {task_id: (status, bool(completed)) for task_id, (status, completed, _, _) in after.items()} == {
        "t-open": ("todo", False),
        "t-ticked": ("done", True),
        "t-dropped": ("done", True),
        "t-both": ("done", True),
    }
    assert after["t-dropped"][2] is not None  # completed at its last change
    assert {task_id: row[3] for task_id, row in after.items()} == {
        "t-open": 1,
        "t-ticked": 2,
        "t-dropped": 2,
        "t-both": 1,
    }
    (columns,) = run_sql(url, [("SELECT columns FROM workspaces", {})])
    assert columns == [(None,)]  # NULL: the three columns of v1

    command.downgrade(alembic_config(url), "0008")
    assert "columns" not in tables_and_columns(url)["workspaces"]
    upgrade(url)
    assert "columns" in tables_and_columns(url)["workspaces"]
    assert schema_status(url).up_to_date
