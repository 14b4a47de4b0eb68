"""trash: a deleted task stays in the trash; the log row names the task an event is about

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:30:00.000000

`tasks.deleted_at` (and who deleted it) marks a task in the trash (PROTOCOL §7). Tasks deleted
before this revision are gone for good, so no existing row is in the trash.

`workspace_events.task_id` names the task of a task or comment event, so a task's activity is
an index range of its workspace's log. Rows written before this revision get it from their
envelopes once, here.

Down again, the trash is emptied first: the old schema has no way to hide a trashed task, and
under its meaning those tasks were deleted.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TASK_PREFIXES = ("TASK_", "COMMENT_")


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deleted_by", sa.String(length=36), nullable=True))
    op.create_index("ix_tasks_trash", "tasks", ["workspace_id", "deleted_at"])
    with op.batch_alter_table("workspace_events") as batch:
        batch.add_column(sa.Column("task_id", sa.String(length=36), nullable=True))
    op.create_index("ix_workspace_events_task", "workspace_events", ["workspace_id", "task_id", "seq"])

    events = sa.table(
        "workspace_events",
        sa.column("workspace_id", sa.String),
        sa.column("seq", sa.BigInteger),
        sa.column("type", sa.String),
        sa.column("envelope", sa.Text),
        sa.column("task_id", sa.String),
    )
    bind = op.get_bind()
    kinds = sa.or_(*(events.c.type.startswith(prefix) for prefix in _TASK_PREFIXES))
    rows = bind.execute(sa.select(events.c.workspace_id, events.c.seq, events.c.envelope).where(kinds)).all()
    for workspace_id, seq, envelope in rows:
        task_id = _task_of(json.loads(envelope).get("data") or {})
        if task_id:
            bind.execute(
                sa.update(events)
                .where(events.c.workspace_id == workspace_id, events.c.seq == seq)
                .values(task_id=task_id)
            )


def _task_of(data: dict[str, object]) -> str | None:
    task = data.get("task")
    if isinstance(task, dict) and isinstance(task.get("id"), str):
        return str(task["id"])
    task_id = data.get("taskId")
    return task_id if isinstance(task_id, str) else None


def downgrade() -> None:
    # The documents go with their tasks (named here too: SQLite's cascades depend on a pragma).
    tasks = sa.table("tasks", sa.column("id", sa.String), sa.column("deleted_at", sa.DateTime))
    trashed = sa.select(tasks.c.id).where(tasks.c.deleted_at.is_not(None))
    for name in ("task_document_updates", "task_documents"):
        table = sa.table(name, sa.column("task_id", sa.String))
        op.execute(table.delete().where(table.c.task_id.in_(trashed)))
    op.execute(tasks.delete().where(tasks.c.deleted_at.is_not(None)))
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a batch copy: on SQLite a copy drops the old
    # table, and with foreign keys on that deletes every row that refers to it by cascade.
    op.drop_index("ix_workspace_events_task", table_name="workspace_events")
    op.drop_column("workspace_events", "task_id")
    op.drop_index("ix_tasks_trash", table_name="tasks")
    op.drop_column("tasks", "deleted_by")
    op.drop_column("tasks", "deleted_at")
