"""columns: a workspace's own columns, and completion agreeing with them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:00:00.000000

A NULL `columns` is the three columns of protocol v1, so existing workspaces need no rewrite.
Existing tasks are made to agree with the one meaning of done (PROTOCOL §7): a completed task
outside `done` moves there (keeping its position key, which orders it among the others), and a
task in `done` that was not completed becomes completed. Their version rises, so a client
holding the old row and writing with `baseVersion` meets a conflict rather than undoing this.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("columns", sa.JSON(), nullable=True))
    tasks = sa.table(
        "tasks",
        sa.column("status", sa.String),
        sa.column("completed", sa.Boolean),
        sa.column("completed_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("version", sa.Integer),
    )
    op.execute(
        tasks.update()
        .where(tasks.c.completed.is_(True), tasks.c.status != "done")
        .values(status="done", version=tasks.c.version + 1)
    )
    op.execute(
        tasks.update()
        .where(tasks.c.completed.is_(False), tasks.c.status == "done")
        .values(
            completed=True,
            completed_at=sa.func.coalesce(tasks.c.completed_at, tasks.c.updated_at),
            version=tasks.c.version + 1,
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("columns")
