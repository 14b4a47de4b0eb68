"""Thousands of tasks in a second: rows written straight into a running node's database.

Creating them through the API costs a locked write and an event each (seconds per thousand on
SQLite). The rows here have no events, so they serve tests of reads only. They run on the node's
own loop with its own engine, so they work on either backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from taskroom.db.models import Task
from taskroom.services.positions import key_between
from taskroom.timeutil import utcnow
from tests.support.servers import RunningServer


def column_keys(count: int, *, ties_every: int = 0) -> list[str]:
    """`count` ascending order keys; with `ties_every`, every n-th key repeats the one before it
    (positions are not unique in the schema, and a page must still end and resume between ties)."""
    keys: list[str] = []
    last: str | None = None
    for index in range(count):
        if ties_every and index % ties_every == ties_every - 1 and last is not None:
            keys.append(last)
            continue
        last = key_between(last, None)
        keys.append(last)
    return keys


def insert_tasks(
    server: RunningServer,
    workspace_id: str,
    created_by: str,
    rows: Iterable[dict[str, Any]],
) -> list[str]:
    """Insert one task per dict (`status` and `position` required; `title`, `assigneeId`,
    `completed`, `description` optional); returns their ids in the order given."""
    now = utcnow()
    tasks = [
        Task(
            id=str(uuid.uuid4()),
            workspace_id=workspace_id,
            title=row.get("title", "Bulk task"),
            description=row.get("description"),
            status=row["status"],
            position=row["position"],
            completed=row.get("completed", row["status"] == "done"),
            completed_at=now if row.get("completed", row["status"] == "done") else None,
            assignee_id=row.get("assigneeId"),
            due_date=None,
            priority="medium",
            created_by=created_by,
            created_at=now,
            updated_at=now,
            version=1,
            field_versions={},
        )
        for row in rows
    ]

    ids = [task.id for task in tasks]  # read now: the objects expire with the commit

    async def write() -> None:
        async with server.app_state.services.db.transaction() as session:
            session.add_all(tasks)

    server.call(write, timeout=60)
    return ids
