"""Migration 0012 (trash): log rows written before it get the task they are about, read from
their envelopes; down again the trash is emptied; and it goes down and up again, on both backends."""

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


def envelope(seq: int, type_: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": type_, "data": data, "timestamp": "2026-12-01T12:00:00.000Z", "seq": seq})


# (seq, type, data): the task is in `data.task` or `data.taskId`; membership events have none.
EVENTS = [
    (1, "TASK_CREATED", {"workspaceId": "w-1", "task": {"id": "t-1"}, "actorId": "u-1"}),
    (2, "WORKSPACE_MEMBER_ADDED", {"workspaceId": "w-1", "member": {"userId": "u-1"}, "actorId": "u-1"}),
    (3, "TASK_DELETED", {"workspaceId": "w-1", "taskId": "t-2", "actorId": "u-1"}),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_trash_migration_fills_task_ids_and_goes_down_and_up_again(
    backend: str, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(backend)
    command.upgrade(alembic_config(url), "0011")
    statements: list[tuple[str, dict[str, Any]]] = [
        (
            "INSERT INTO users (id, email, name, password_hash, created_at)"
            " VALUES ('u-1', 'ada@example.test', 'Ada', 'x', :now)",
            {"now": NOW},
        ),
        (
            "INSERT INTO workspaces (id, name, owner_id, seq, log_floor, created_at, updated_at)"
            " VALUES ('w-1', 'Old', 'u-1', 3, 0, :now, :now)",
            {"now": NOW},
        ),
        (
            "INSERT INTO tasks (id, workspace_id, title, status, position, completed, priority,"
            " created_by, created_at, updated_at, version, field_versions)"
            " VALUES ('t-1', 'w-1', 'Kept', 'todo', 'a0', false, 'medium', 'u-1', :now, :now, 1, '{}')",
            {"now": NOW},
        ),
    ]
    for seq, type_, data in EVENTS:
        statements.append(
            (
                "INSERT INTO workspace_events (workspace_id, seq, event_id, type, envelope, created_at)"
                " VALUES ('w-1', :seq, :event_id, :type, :envelope, :now)",
                {
                    "seq": seq,
                    "event_id": f"e-{seq}",
                    "type": type_,
                    "envelope": envelope(seq, type_, data),
                    "now": NOW,
                },
            )
        )
    run_sql(url, statements)

    upgrade(url)
    assert schema_status(url).up_to_date
    (rows,) = run_sql(url, [("SELECT seq, task_id FROM workspace_events ORDER BY seq", {})])
    assert [tuple(row) for row in rows] == [(1, "t-1"), (2, None), (3, "t-2")]
    (live,) = run_sql(url, [("SELECT id, deleted_at, deleted_by FROM tasks", {})])
    assert [tuple(row) for row in live] == [("t-1", None, None)]  # nothing is in the trash

    # A task in the trash when going down: deleted for good, as the old schema means.
    run_sql(
        url,
        [
            (
                "INSERT INTO tasks (id, workspace_id, title, status, position, completed, priority,"
                " created_by, created_at, updated_at, version, field_versions, deleted_at, deleted_by)"
                " VALUES ('t-3', 'w-1', 'Binned', 'todo', 'a1', false, 'medium', 'u-1', :now, :now, 1,"
                " '{}', :now, 'u-1')",
                {"now": NOW},
            ),
            (
                "INSERT INTO task_documents (task_id, snapshot, version, updated_at)"
                " VALUES ('t-3', :snapshot, 1, :now), ('t-1', :snapshot, 1, :now)",
                {"snapshot": b"\x00", "now": NOW},
            ),
        ],
    )
    command.downgrade(alembic_config(url), "0011")
    columns = tables_and_columns(url)
    assert "deleted_at" not in columns["tasks"]
    assert "task_id" not in columns["workspace_events"]
    (left, documents) = run_sql(
        url, [("SELECT id FROM tasks", {}), ("SELECT task_id FROM task_documents", {})]
    )
    assert [row[0] for row in left] == ["t-1"]
    assert [row[0] for row in documents] == ["t-1"]  # a live task's document stays

    upgrade(url)
    columns = tables_and_columns(url)
    assert {"deleted_at", "deleted_by"} <= columns["tasks"]
    assert "task_id" in columns["workspace_events"]
    assert schema_status(url).up_to_date
