"""One place for "now" and the wire's time format (ISO-8601 UTC, milliseconds, `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC, so naive means UTC."""
    if value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """`2026-11-26T14:00:00.000Z`: sub-millisecond digits are truncated."""
    return ensure_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
