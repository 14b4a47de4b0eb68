"""Migration 0011 (labels and search): existing tasks get no labels and are searchable at once,
the index follows later writes, and the migration goes down and up again, on both backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command

from taskroom.db.migrate import alembic_config, schema_status, upgrade
from tests.conftest import BACKENDS
from tests.support.schema import run_sql, tables_and_columns

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TASKS = [
    ("t-title", "Budget review", None),
    ("t-description", "Quarterly", "the budget for next year"),
    ("t-other", "Unrelated", "nothing"),
]


def matches(backend: str, url: str, word: str) -> list[str]:
    """Ids of the tasks whose search index holds `word`, read straight from the index."""
    if backend == "sqlite":
        statement = (
            "SELECT k.task_id FROM tasks_fts JOIN task_search_keys k ON k.id = tasks_fts.rowid"
            " WHERE tasks_fts MATCH :word ORDER BY k.task_id"
        )
    else:
        statement = "SELECT id FROM tasks WHERE search_vector @@ plainto_tsquery('simple', :word) ORDER BY id"
    (rows,) = run_sql(url, [(statement, {"word": word})])
    return [row[0] for row in rows]


def seed(url: str) -> None:
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
    for index, (task_id, title, description) in enumerate(TASKS):
        statements.append(
            (
                "INSERT INTO tasks (id, workspace_id, title, description, status, position, completed,"
                " priority, created_by, created_at, updated_at, version, field_versions)"
                " VALUES (:id, 'w-1', :title, :description, 'todo', :position, false, 'medium', 'u-1',"
                " :now, :now, 1, '{}')",
                {
                    "id": task_id,
                    "title": title,
                    "description": description,
                    "position": f"a{index}",
                    "now": NOW,
                },
            )
        )
    run_sql(url, statements)


@pytest.mark.parametrize("backend", BACKENDS)
def test_existing_tasks_are_searchable_and_the_migration_goes_down_and_up(
    backend: str, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(backend)
    command.upgrade(alembic_config(url), "0010")
    seed(url)

    upgrade(url)
    assert schema_status(url).up_to_date
    (labels,) = run_sql(url, [("SELECT id, labels FROM tasks ORDER BY id", {})])
    # SQLite hands the JSON back as text, asyncpg as text too: compare the parsed values.
    assert {row[0]: json.loads(row[1]) if isinstance(row[1], str) else row[1] for row in labels} == {
        "t-description": [],
        "t-other": [],
        "t-title": [],
    }
    assert matches(backend, url, "budget") == ["t-description", "t-title"]

    # Later writes of any kind (here plain SQL, as a migration or a bulk import would) keep it right.
    run_sql(
        url,
        [
            ("UPDATE tasks SET description = 'budget too' WHERE id = 't-other'", {}),
            ("UPDATE tasks SET title = 'Review' WHERE id = 't-title'", {}),
            ("DELETE FROM tasks WHERE id = 't-description'", {}),
        ],
    )
    assert matches(backend, url, "budget") == ["t-other"]
    assert matches(backend, url, "review") == ["t-title"]

    command.downgrade(alembic_config(url), "0010")
    tables = tables_and_columns(url)
    assert "labels" not in tables["tasks"]
    assert "search_vector" not in tables["tasks"]
    assert not {"tasks_fts", "task_search_keys"} & set(tables)

    upgrade(url)
    assert schema_status(url).up_to_date
    # Indexed again from the rows as they are now.
    assert matches(backend, url, "budget") == ["t-other"]
    assert matches(backend, url, "review") == ["t-title"]


def test_the_sqlite_search_triggers_exist_at_the_head(database_factory: Callable[[str], str]) -> None:
    """A later migration that rebuilds `tasks` on SQLite drops its triggers: it must make them again."""
    url = database_factory("sqlite")
    upgrade(url)
    (rows,) = run_sql(
        url, [("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tasks'", {})]
    )
    assert {row[0] for row in rows} >= {"tasks_search_insert", "tasks_search_update", "tasks_search_delete"}
