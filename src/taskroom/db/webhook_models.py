"""Webhook tables: the hooks of a workspace, each with its delivery cursor and lease, and their attempts.

Kept apart from `models.py` (same metadata) so the delivery machinery stays in one place.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base

AttemptId = BigInteger().with_variant(Integer(), "sqlite")


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    # None: every log event type; else the list of types the receiver asked for.
    events: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    secret: Mapped[str] = mapped_column(String(200))
    # `active` delivers; `failing` stopped after WEBHOOK_RETRY_WINDOW of failures (replay restarts it).
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The last seq the receiver acknowledged (or that the event filter skipped).
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Failures in a row of the event at the cursor, when the first of them happened, and when to retry.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The node delivering this hook and until when: one node at a time, whatever the number of nodes.
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """One POST to a receiver; only the last few per hook are kept (see WEBHOOK_ATTEMPTS_KEPT)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(AttemptId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)

    __table_args__ = (Index("ix_webhook_attempts_webhook_id", "webhook_id", "id"),)
