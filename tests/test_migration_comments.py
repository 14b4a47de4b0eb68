"""Migration 0013 (comments and notifications): the two tables come up empty, go down with
nothing else touched (the tasks they refer to stay), and come up again, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command

from taskroom.db.migrate import alembic_config, schema_status, upgrade
from tests.conftest import BACKENDS
from tests.support.schema import run_sql, tables_and_columns

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_comments_migration_goes_up_down_and_up_again(
    backend: str, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(backend)
    command.upgrade(alembic_config(url), "0012")
    statements: list[tuple[str, dict[str, Any]]] = [
        (
            "INSERT INTO users (id, email, name, password_hash, created_at)"
            " VALUES ('u-1', 'ada@example.test', 'Ada', 'x', :now)",
            {"now": NOW},
        ),
        (
            "INSERT INTO workspaces (id, name, owner_id, seq, log_floor, created_at, updated_at)"
            " VALUES ('w-1', 'Old', 'u-1', 1, 0, :now, :now)",
            {"now": NOW},
        ),
        (
            "INSERT INTO tasks (id, workspace_id, title, status, position, completed, priority,"
            " created_by, created_at, updated_at, version, field_versions)"
            " VALUES ('t-1', 'w-1', 'Kept', 'todo', 'a0', false, 'medium', 'u-1', :now, :now, 1, '{}')",
            {"now": NOW},
        ),
    ]
    run_sql(url, statements)

    upgrade(url)
    assert schema_status(url).up_to_date
    columns = tables_and_columns(url)
    assert columns["comments"] == {
        "id",
        "workspace_id",
        "task_id",
        "author_id",
        "body",
        "mentions",
        "created_at",
        "edited_at",
    }
    assert columns["notifications"] == {
        "id",
        "user_id",
        "kind",
        "workspace_id",
        "task_id",
        "actor_id",
        "created_at",
        "read_at",
    }
    run_sql(
        url,
        [
            (
                "INSERT INTO comments (id, workspace_id, task_id, author_id, body, mentions, created_at)"
                " VALUES ('c-1', 'w-1', 't-1', 'u-1', 'Hi', '[]', :now)",
                {"now": NOW},
            ),
            (
                "INSERT INTO notifications (id, user_id, kind, workspace_id, task_id, actor_id, created_at)"
                " VALUES ('n-1', 'u-1', 'mention', 'w-1', 't-1', 'u-1', :now)",
                {"now": NOW},
            ),
        ],
    )

    command.downgrade(alembic_config(url), "0012")
    columns = tables_and_columns(url)
    assert "comments" not in columns and "notifications" not in columns
    (tasks, workspaces) = run_sql(url, [("SELECT id FROM tasks", {}), ("SELECT id FROM workspaces", {})])
    assert [row[0] for row in tasks] == ["t-1"] and [row[0] for row in workspaces] == ["w-1"]

    upgrade(url)
    columns = tables_and_columns(url)
    assert {"comments", "notifications"} <= set(columns)
    assert schema_status(url).up_to_date
    (left,) = run_sql(url, [("SELECT id FROM comments", {})])
    assert list(left) == []
