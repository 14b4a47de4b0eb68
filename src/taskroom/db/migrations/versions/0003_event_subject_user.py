"""the log row names the member a membership event is about

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 19:50:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MEMBERSHIP_TYPES = ("WORKSPACE_MEMBER_ADDED", "WORKSPACE_MEMBER_UPDATED", "WORKSPACE_MEMBER_REMOVED")


def upgrade() -> None:
    with op.batch_alter_table("workspace_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_user_id", sa.String(length=36), nullable=True))
    # Rows written before this revision: read the subject out of their envelopes once, here.
    events = sa.table(
        "workspace_events",
        sa.column("workspace_id", sa.String),
        sa.column("seq", sa.BigInteger),
        sa.column("type", sa.String),
        sa.column("envelope", sa.Text),
        sa.column("subject_user_id", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(events.c.workspace_id, events.c.seq, events.c.envelope).where(
            events.c.type.in_(_MEMBERSHIP_TYPES)
        )
    ).all()
    for workspace_id, seq, envelope in rows:
        data = json.loads(envelope).get("data") or {}
        subject = data.get("userId") or (data.get("member") or {}).get("userId")
        if subject:
            bind.execute(
                sa.update(events)
                .where(events.c.workspace_id == workspace_id, events.c.seq == seq)
                .values(subject_user_id=subject)
            )


def downgrade() -> None:
    with op.batch_alter_table("workspace_events", schema=None) as batch_op:
        batch_op.drop_column("subject_user_id")
