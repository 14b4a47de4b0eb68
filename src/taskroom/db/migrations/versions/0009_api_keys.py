"""api keys for back-ends, each with its own service user, and the kind of every user

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every user so far is a person; a key's service user is the other kind.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="person"))
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("service_user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name="fk_api_keys_workspace_id_workspaces",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_user_id"], ["users.id"], name="fk_api_keys_service_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.UniqueConstraint("service_user_id", name="uq_api_keys_service_user_id"),
    )
    op.create_index("ix_api_keys_workspace_id", "api_keys", ["workspace_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_api_keys_workspace_id", table_name="api_keys")
    op.drop_table("api_keys")
    # Without their keys, service users are accounts nobody can use.
    op.execute("DELETE FROM users WHERE kind = 'service'")
    # A plain DROP COLUMN (SQLite 3.35+ has it): batch mode would copy `users` into a new table,
    # which SQLite refuses while other tables' rows refer to it.
    op.drop_column("users", "kind")
