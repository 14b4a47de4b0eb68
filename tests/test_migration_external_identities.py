"""Migration 0008 (external identities) goes up, down and up again on both backends, and matches the model."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic import command

from taskroom.db.migrate import alembic_config, schema_status, upgrade
from taskroom.db.models import ExternalIdentity
from tests.conftest import BACKENDS
from tests.support.schema import tables_and_columns

TABLE = ExternalIdentity.__tablename__


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
