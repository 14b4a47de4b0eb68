"""Tables. Every time is stored as UTC; SQLite hands them back naive (see timeutil.ensure_utc)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Fractional-index keys must compare byte by byte on every backend; PostgreSQL's default
# collation would compare them linguistically.
PositionKey = Text().with_variant(Text(collation="C"), "postgresql")
# A task's labels, a JSON array of strings. JSONB on PostgreSQL: only JSONB has containment (`@>`)
# and a GIN index for it; plain JSON there is stored text with no operators. JSONB keeps array
# order, which is the order the labels were given in.
LabelList = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # "person", or "service" for an API key's own user (PROTOCOL §5.3), which never logs in.
    kind: Mapped[str] = mapped_column(String(16), default="person", server_default="person")


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # The workspace's latest event number; bumped with a row lock in every writing transaction,
    # which is what makes seq order equal commit order.
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Highest seq pruned from the log: a reader asking for anything at or below it gets GONE.
    log_floor: Mapped[int] = mapped_column(BigInteger, default=0)
    # [{key, name, done}] in board order; NULL is the three columns of protocol v1 (services/columns.py).
    columns: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Member(Base):
    __tablename__ = "workspace_members"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_workspace_members_user_id", "user_id"),)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    position: Mapped[str] = mapped_column(PositionKey)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    assignee_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    due_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    priority: Mapped[str] = mapped_column(String(8), default="medium")
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # field name -> the task version that last changed it; what a baseVersion merge is decided on.
    field_versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    labels: Mapped[list[str]] = mapped_column(LabelList, default=list, server_default=text("'[]'"))
    # Full-text search (migration 0011) lives outside this model: on PostgreSQL a generated
    # `search_vector` column, on SQLite the FTS5 table `tasks_fts` kept in sync by triggers. Neither
    # is ever written by the application (services/task_search.py only reads them).
    # Set while the task is in the trash (PROTOCOL §7): the row stays, so its shared description
    # and everything else that refers to it come back with a restore. Every read of live tasks
    # filters on `Task.live()`.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(36), nullable=True)

    __table_args__ = (
        Index("ix_tasks_column_order", "workspace_id", "status", "position"),
        Index("ix_tasks_trash", "workspace_id", "deleted_at"),
    )

    @classmethod
    def live(cls) -> ColumnElement[bool]:
        """The condition every read of the board's tasks carries: not in the trash."""
        return cls.deleted_at.is_(None)


class Event(Base):
    """The workspace log: one row per committed event, the envelope stored exactly as sent."""

    __tablename__ = "workspace_events"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    envelope: Mapped[str] = mapped_column(Text)
    # The member a membership event is about, so the real-time layer routes log rows without parsing JSON.
    subject_user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The task an event is about (task and comment events), so a task's activity is read
    # from its workspace's log by index rather than by parsing every envelope.
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_workspace_events_created_at", "created_at"),
        Index("ix_workspace_events_task", "workspace_id", "task_id", "seq"),
    )


class Comment(Base):
    """A comment on a task (PROTOCOL §7). It goes with its task: a trashed task's comments answer
    404 with it, and emptying the trash deletes them (services/trash.py names them)."""

    __tablename__ = "comments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(String(36))
    body: Mapped[str] = mapped_column(Text)
    # The members the body mentions (`@{userId}`), in the order they first appear.
    mentions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_comments_task", "task_id", "created_at", "id"),)


class Notification(Base):
    """Something a user is told about (PROTOCOL §7): a mention, an assignment, a comment on a task
    assigned to them. Read back only while the user is still a member of its workspace."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("ix_notifications_user", "user_id", "created_at", "id"),
        Index("ix_notifications_task", "task_id"),
    )


class IdempotencyRecord(Base):
    """The first successful answer to a write, replayed for the same key from the same user."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # The access the write needed; checked again before a replay, so a caller who has since lost
    # that role gets the answer anyone without it gets (404 or 403), not the stored one.
    # Null: the write needed no workspace role (creating a workspace, deleting it, leaving it).
    workspace_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    required_role: Mapped[str | None] = mapped_column(String(16), nullable=True)


class TaskDocument(Base):
    """The shared text document of a task's description: its compacted state (PROTOCOL §3.6).

    The document is the compacted `snapshot` plus every row of `task_document_updates` of the
    task (in any order: Yjs updates commute). `version` rises with each compaction, which only
    succeeds against the version it read, so two nodes compacting at once never lose an update.
    """

    __tablename__ = "task_documents"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    snapshot: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# SQLite numbers rows by itself only in an INTEGER PRIMARY KEY column.
UpdateId = BigInteger().with_variant(Integer(), "sqlite")


class TaskDocumentUpdate(Base):
    """One Yjs update to a task's document, appended by the node whose client sent it."""

    __tablename__ = "task_document_updates"

    id: Mapped[int] = mapped_column(UpdateId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task_documents.task_id", ondelete="CASCADE"), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Invitation(Base):
    """An invitation to join a workspace, for an email address that may have no account yet.

    Only the SHA-256 of the token is kept: the link itself is shown once, at creation. An
    invitation stays after it is accepted or revoked so that its link answers 410 GONE, not 404.
    """

    __tablename__ = "workspace_invitations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    accepted_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_workspace_invitations_workspace_id", "workspace_id"),)


class AuthSession(Base):
    """One login: the refresh token in force (hashed) and what the session list shows."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # sha256 hex of the refresh token in force; replaced on every refresh.
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the refresh token in force stops working (JWT_REFRESH_TTL_SECONDS after it was issued).
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # Set when the session ends (logout, ended from the list, password change, reuse detected).
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SpentRefreshToken(Base):
    """A refresh token already exchanged: presenting it again ends its session (reuse detection)."""

    __tablename__ = "spent_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    spent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExternalIdentity(Base):
    """The Taskroom user that an identity provider's (`iss`, `sub`) names (PROTOCOL §5.2).

    The pair is the primary key: two first requests at once insert one row, and the loser of
    the race finds the winner's user on its retry."""

    __tablename__ = "external_identities"

    issuer: Mapped[str] = mapped_column(String(512), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """A back-end's key to one workspace (PROTOCOL §5.3). It acts as its own service user.

    Only the key's SHA-256 is kept; `prefix` (its first characters) is what lists show, so an
    admin can tell keys apart without the secret.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    service_user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(36))
    # Written at most once a minute per key and node (services/api_keys.py), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
