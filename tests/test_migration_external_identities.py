"""Migration 0008 (external identities) goes up, down and up again on both backends, and matches the model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from taskroom.db.engine import create_engine
from taskroom.db.migrate import alembic_config, schema_status, upgrade
from taskroom.db.models import ExternalIdentity
from tests.conftest import BACKENDS

TABLE = ExternalIdentity.__tablename__


def tables_and_columns(database_url: str) -> dict[str, set[str]]:
    def read(connection: Connection) -> dict[str, set[str]]:
        inspector = inspect(connection)
        return {
            name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()
        }

    async def run() -> dict[str, set[str]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_external_identities_migration_goes_up_down_and_up_again(
    backend: str, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(backend)
    upgrade(url)
    assert schema_status(url).up_to_date
    assert tables_and_columns(url)[TABLE] == {column.name for column in ExternalIdentity.__table__.columns}
    command.downgrade(alembic_config(url), "0007")
    assert TABLE not in tables_and_columns(url)
    assert "users" in tables_and_columns(url)
    upgrade(url)
    assert TABLE in tables_and_columns(url)
    assert schema_status(url).up_to_date
