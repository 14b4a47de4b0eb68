"""The WebSocket address the client dials, from what the caller gives."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

WS_PATH = "/api/v1/ws"
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


def websocket_url(url: str) -> str:
    """`url` as a ``ws://`` or ``wss://`` address of the endpoint.

    A base address (``ws://host:8000``, ``https://tasks.example.com``) gets the endpoint's path
    ``/api/v1/ws``; an address with any other path is used as given (a proxy may mount the
    endpoint elsewhere). ``http``/``https`` become ``ws``/``wss``. Anything else is a ValueError.
    """
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"not a ws://, wss://, http:// or https:// address: {url!r}")
    path = parts.path if parts.path not in ("", "/") else WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def http_base_url(url: str) -> str:
    """The REST base (``…/api/v1``) of a server address given as ``http(s)://host[:port]``.

    An address that already ends in ``/api/v1`` is kept; ``ws``/``wss`` become ``http``/``https``.
    """
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https", "http": "http", "https": "https"}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an http:// or https:// address: {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/api/v1"):
        path = f"{path}/api/v1"
    return urlunsplit((scheme, parts.netloc, path, "", ""))
