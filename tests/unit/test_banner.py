"""The start-up banner hides every credential of DATABASE_URL and REDIS_URL."""

from __future__ import annotations

import pytest

from taskroom.banner import banner_lines, redact_url
from taskroom.settings import Settings


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://taskroom:s3cret@db:5432/taskroom", "postgresql://taskroom:***@db:5432/taskroom"),
        ("postgresql+asyncpg://u:p%40ss@db/t", "postgresql+asyncpg://u:***@db/t"),
        # Unencoded / ? @ in a password (SQLAlchemy accepts them): hidden whole all the same.
        ("postgresql://u:pa/ss?w@rd@db/t?sslmode=require", "postgresql://u:***@db/t?sslmode=require"),
        (
            "postgresql://u@db/t?password=s3cret&sslmode=require",
            "postgresql://u@db/t?password=***&sslmode=require",
        ),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://default:s3cret@cache:6380/1", "rediss://default:***@cache:6380/1"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("not a url", "***"),
    ],
)
def test_credentials_are_hidden_and_the_rest_kept(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_the_banner_shows_the_loopback_address_for_every_interface_and_no_password() -> None:
    settings = Settings(
        database_url="postgresql://taskroom:s3cret@db/taskroom",
        redis_url="redis://:s3cret-too@cache:6379/0",
        node_id="node-x",
        jwt_secret="x" * 40,
    )
    text = "\n".join(banner_lines(settings, "0.0.0.0", 8000))
    assert "s3cret" not in text
    assert "node node-x" in text
    assert "http://127.0.0.1:8000/ (listening on every interface)" in text
    assert "http://127.0.0.1:8000/docs" in text
    assert "PostgreSQL postgresql://taskroom:***@db/taskroom" in text
    assert "Redis redis://:***@cache:6379/0" in text


def test_the_banner_says_when_the_docs_are_off_and_the_broker_is_in_process() -> None:
    settings = Settings(database_url="sqlite:///./taskroom.db", api_docs_enabled=False, redis_url=None)
    text = "\n".join(banner_lines(settings, "127.0.0.1", 8000))
    assert "off (API_DOCS_ENABLED=false)" in text
    assert "in-process" in text
    assert "SQLite file /" in text
