"""Reading and writing a database at a migration, below the models (for the migration tests)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from taskroom.db.engine import create_engine


def tables_and_columns(database_url: str) -> dict[str, set[str]]:
    """Every table of the database, with the names of its columns."""

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


def run_sql(database_url: str, statements: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The statements in one transaction; each one's rows (None for a statement without rows)."""

    async def run() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as connection:
                results = []
                for statement, params in statements:
                    result = await connection.execute(text(statement), params)
                    results.append(result.all() if result.returns_rows else None)
                return results
        finally:
            await engine.dispose()

    return asyncio.run(run())
