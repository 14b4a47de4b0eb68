"""Commit notices (PostgreSQL NOTIFY payloads) as the listener reads them."""

from __future__ import annotations

from taskroom.realtime.commit_listener import listener_dsn, parse_notice


def test_a_notice_names_each_workspace_head_on_its_own_line() -> None:
    assert parse_notice("ws-1 7\nws-2 12") == [("ws-1", 7), ("ws-2", 12)]


def test_malformed_lines_of_a_notice_are_ignored() -> None:
    assert parse_notice("ws-1 seven\n\n 3\nws-2\nws-3 -4\nws-4 5") == [("ws-4", 5)]


def test_the_listener_connects_with_a_plain_dsn_whatever_the_driver_in_the_url() -> None:
    assert listener_dsn("postgresql+asyncpg://u:p@db:5432/app") == "postgresql://u:p@db:5432/app"
    assert listener_dsn("postgresql://u@db/app?sslmode=require") == "postgresql://u@db/app?sslmode=require"
