"""labels and search: task labels, and full-text search over title and description

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:30:00.000000

Labels are a JSON array on `tasks` (JSONB with a GIN index on PostgreSQL, for `@>`).

Search, PostgreSQL: a generated `search_vector` column (title weighted A, description B, the
'simple' configuration: words lower-cased, no stemming, no stop words) with a GIN index. Adding a
stored generated column computes it for every existing row.

Search, SQLite: an FTS5 table `tasks_fts` (same tokens as 'simple': unicode61, diacritics kept)
kept in sync by triggers on `tasks`, so every writer — the services, bulk inserts, later
migrations — keeps it right. Its rowids come from `task_search_keys`, an INTEGER PRIMARY KEY per
task id: `tasks` has a text key, and the implicit rowid of such a table may change on VACUUM, so
it cannot be what the index points at. Existing rows are indexed here.

A later migration that rebuilds `tasks` on SQLite (batch mode copies it into a new table) drops
these triggers with the old table and must create them again (`sqlite_search_triggers()`);
tests/test_migration_labels_search.py checks they exist at the head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SEARCH_VECTOR = (
    "setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')"
    " || setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'B')"
)

SQLITE_TRIGGERS = ("tasks_search_insert", "tasks_search_update", "tasks_search_delete")


def sqlite_search_triggers() -> list[str]:
    """The statements that create the triggers keeping `tasks_fts` in step with `tasks`."""
    key_of = "(SELECT id FROM task_search_keys WHERE task_id = {row}.id)"
    return [
        "CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN"
        " INSERT INTO task_search_keys (task_id) VALUES (new.id);"
        " INSERT INTO tasks_fts (rowid, title, description)"
        f" VALUES ({key_of.format(row='new')}, new.title, coalesce(new.description, ''));"
        " END",
        "CREATE TRIGGER tasks_search_update AFTER UPDATE OF title, description ON tasks BEGIN"
        " UPDATE tasks_fts SET title = new.title, description = coalesce(new.description, '')"
        f" WHERE rowid = {key_of.format(row='new')};"
        " END",
        "CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN"
        f" DELETE FROM tasks_fts WHERE rowid = {key_of.format(row='old')};"
        " DELETE FROM task_search_keys WHERE task_id = old.id;"
        " END",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "tasks", sa.Column("labels", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb"))
        )
        op.create_index(
            "ix_tasks_labels",
            "tasks",
            ["labels"],
            postgresql_using="gin",
            postgresql_ops={"labels": "jsonb_path_ops"},
        )
        op.execute(
            f"ALTER TABLE tasks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({_SEARCH_VECTOR}) STORED"
        )
        op.create_index("ix_tasks_search_vector", "tasks", ["search_vector"], postgresql_using="gin")
        return
    # ADD COLUMN, not batch mode: rebuilding `tasks` would cascade-delete its documents.
    op.add_column("tasks", sa.Column("labels", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.execute(
        "CREATE TABLE task_search_keys ("
        " id INTEGER PRIMARY KEY, task_id VARCHAR(36) NOT NULL,"
        " CONSTRAINT uq_task_search_keys_task_id UNIQUE (task_id))"
    )
    op.execute(
        "CREATE VIRTUAL TABLE tasks_fts USING fts5("
        "title, description, tokenize = 'unicode61 remove_diacritics 0')"
    )
    op.execute("INSERT INTO task_search_keys (task_id) SELECT id FROM tasks")
    op.execute(
        "INSERT INTO tasks_fts (rowid, title, description)"
        " SELECT k.id, t.title, coalesce(t.description, '')"
        " FROM tasks t JOIN task_search_keys k ON k.task_id = t.id"
    )
    for statement in sqlite_search_triggers():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_tasks_search_vector", table_name="tasks")
        op.drop_column("tasks", "search_vector")
        op.drop_index("ix_tasks_labels", table_name="tasks")
        op.drop_column("tasks", "labels")
        return
    for trigger in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE tasks_fts")
    op.execute("DROP TABLE task_search_keys")
    # SQLite 3.35+ drops a column in place; batch mode would rebuild (and cascade from) `tasks`.
    op.execute("ALTER TABLE tasks DROP COLUMN labels")
