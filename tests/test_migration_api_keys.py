"""Migration 0009 (API keys, users' kind) goes up, down and up again on both backends, and
matches the models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic import command

from taskroom.db.migrate import alembic_config, schema_status, upgrade
from taskroom.db.models import ApiKey, User
from tests.conftest import BACKENDS
from tests.support.schema import tables_and_columns

TABLE = ApiKey.__tablename__


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_api_keys_migration_goes_up_down_and_up_again(
    backend: str, database_factory: Callable[[str], str]
) -> None:
    url = database_factory(backend)
    upgrade(url)
    assert schema_status(url).up_to_date
    tables = tables_and_columns(url)
    assert tables[TABLE] == {column.name for column in ApiKey.__table__.columns}
    assert tables["users"] == {column.name for column in User.__table__.columns}
    # Down to the revision before it: the table and the column go, the rest stays.
    command.downgrade(alembic_config(url), "0009-1")
    tables = tables_and_columns(url)
    assert TABLE not in tables and "kind" not in tables["users"]
    assert "workspace_members" in tables
    upgrade(url)
    assert TABLE in tables_and_columns(url)
    assert schema_status(url).up_to_date
