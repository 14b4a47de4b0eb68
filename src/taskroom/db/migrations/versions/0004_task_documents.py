"""shared task descriptions: a compacted snapshot per task and the updates appended since

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_documents",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("snapshot", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_task_documents_task_id_tasks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name="pk_task_documents"),
    )
    op.create_table(
        "task_document_updates",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task_documents.task_id"],
            name="fk_task_document_updates_task_id_task_documents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_document_updates"),
    )
    op.create_index("ix_task_document_updates_task_id", "task_document_updates", ["task_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_document_updates_task_id", table_name="task_document_updates")
    op.drop_table("task_document_updates")
    op.drop_table("task_documents")
