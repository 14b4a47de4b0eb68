"""The one origin policy of both WebSocket endpoints: `WS_ALLOWED_ORIGINS`.

Unset, every origin (and none) is allowed: native clients send no Origin header. Set, a browser
page of another site cannot open a socket with its visitor's token, and a socket without an
Origin header is refused too (only browsers are bound by it, and the list says browsers only).
A trailing slash on either side does not count.
"""

from __future__ import annotations

from ..settings import Settings


class OriginPolicy:
    __slots__ = ("_allowed",)

    def __init__(self, allowed: frozenset[str] | None) -> None:
        self._allowed = allowed

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginPolicy:
        return cls(settings.allowed_origins)

    def allows(self, origin: str | None) -> bool:
        allowed = self._allowed
        return allowed is None or (origin is not None and origin.rstrip("/") in allowed)
