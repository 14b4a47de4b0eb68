"""Schema migrations (Alembic), callable from the CLI and from tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from .engine import create_engine

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`. Runs its own event loop: call it outside one (or in a thread)."""
    command.upgrade(alembic_config(database_url), revision)


@dataclass(frozen=True, slots=True)
class Revision:
    """One migration: its id and the first line of its docstring."""

    id: str
    summary: str

    def describe(self) -> str:
        return f"{self.id} ({self.summary})" if self.summary else self.id


def pending_revisions(database_url: str) -> list[Revision]:
    """The migrations an upgrade to the head would apply, oldest first (empty: up to date).
    Runs its own event loop: call it outside one."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    current = asyncio.run(_current_heads(database_url))
    newest_first = script.iterate_revisions("heads", current or "base")
    return [Revision(rev.revision, (rev.doc or "").strip()) for rev in reversed(list(newest_first))]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database's schema stands against the migrations this version ships."""

    current: frozenset[str]  # empty: never migrated
    heads: frozenset[str]
    known: frozenset[str]  # every revision this version knows

    @property
    def up_to_date(self) -> bool:
        return self.current == self.heads

    @property
    def ahead(self) -> bool:
        """Migrated by a newer version of Taskroom than this one."""
        return bool(self.current - self.known)

    def describe(self) -> str:
        current = ", ".join(sorted(self.current)) or "none (an empty database)"
        return f"schema revision {current}, this version needs {', '.join(sorted(self.heads))}"


def schema_status(database_url: str) -> SchemaStatus:
    """Read the database's revision. Runs its own event loop: call it outside one."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    current = asyncio.run(_current_heads(database_url))
    return SchemaStatus(
        current=frozenset(current),
        heads=frozenset(script.get_heads()),
        known=frozenset(rev.revision for rev in script.walk_revisions()),
    )


async def _current_heads(database_url: str) -> tuple[str, ...]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_heads_of)
    finally:
        await engine.dispose()


def _heads_of(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())
