"""The start-up banner: where this node serves, and what it stores and fans out through.

Printed once the socket listens, so the addresses are the ones that answer. URLs of the
database and the broker are shown without their credentials: the banner goes to the same log
as everything else, and a log must never carry a password.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from . import __version__
from .db.engine import is_sqlite
from .settings import Settings

HIDDEN = "***"
# Query parameters that carry a secret in database and Redis URLs (libpq's `password`, and the
# like): their values are hidden too.
_SECRET_PARAMETERS = ("password", "passwd", "pwd", "secret", "token", "key")
# Addresses that mean "every interface": the banner shows the loopback address, which answers too.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}


def redact_url(url: str) -> str:
    """`url` with the password of its user part and the values of secret parameters hidden.

    The user name stays (it tells which role is in use). Everything before the last `@` counts
    as credentials, so a password with an unencoded `/`, `?` or `@` (which SQLAlchemy accepts)
    is hidden whole: when in doubt, too much is hidden, never too little.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return HIDDEN
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        rest = f"{user}:{HIDDEN}@{rest}" if colon else f"{user}@{rest}"
    address, question, query = rest.partition("?")
    if question:
        fragment = ""
        query, hash_sign, fragment = query.partition("#")
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, HIDDEN if _is_secret(name) else value) for name, value in pairs], safe="*")
        address = f"{address}?{query}{hash_sign}{fragment}"
    return f"{scheme}://{address}"


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_PARAMETERS)


def describe_database(database_url: str) -> str:
    if is_sqlite(database_url):
        path = database_url.split(":///", 1)[1] if ":///" in database_url else ""
        if not path or path == ":memory:":
            return "SQLite in memory"
        return f"SQLite file {Path(path).resolve()}"
    return f"PostgreSQL {redact_url(database_url)}"


def describe_broker(settings: Settings) -> str:
    if not settings.redis_url:
        return "in-process (this node alone; set REDIS_URL for several nodes)"
    return f"Redis {redact_url(settings.redis_url)} (key prefix {settings.redis_prefix!r})"


def base_url(host: str, port: int, *, tls: bool) -> str:
    shown = _WILDCARDS.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # an IPv6 address in a URL
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def banner_lines(settings: Settings, host: str, port: int) -> list[str]:
    """The banner, one line each: version and node, board, API docs, database, broker."""
    url = base_url(host, port, tls=settings.ssl_certfile is not None)
    docs = f"{url}/docs" if settings.api_docs_enabled else "off (API_DOCS_ENABLED=false)"
    listening = " (listening on every interface)" if host in _WILDCARDS else ""
    return [
        f"Taskroom {__version__}, node {settings.node_id}",
        f"  board:     {url}/{listening}",
        f"  API docs:  {docs}",
        f"  database:  {describe_database(settings.database_url)}",
        f"  broker:    {describe_broker(settings)}",
    ]
