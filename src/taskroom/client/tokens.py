"""Access tokens for the client: a fixed string, or a provider called whenever one is needed."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

TokenProvider = Callable[[], str | Awaitable[str]]
#: What ``token=`` accepts: a token, or a plain or ``async`` callable returning one.
TokenSource = str | TokenProvider


async def fetch_token(source: TokenSource) -> str:
    """The token to use now: `source` itself, or what the provider returns (awaited if need be)."""
    if isinstance(source, str):
        return source
    value = source()
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, str) or not value:
        raise TypeError("the token provider must return a non-empty string")
    return value


def refresh_delay(seconds_left: float, margin: float, minimum: float = 0.5) -> float:
    """Seconds to wait before re-authenticating a token that expires in `seconds_left`.

    The fresh token is sent `margin` seconds before expiry, but never later than halfway through
    what is left (short-lived tokens), and never sooner than `minimum` seconds from now, so a
    server clock far ahead of ours cannot make the client re-authenticate in a tight loop.
    """
    return max(minimum, seconds_left - min(margin, seconds_left / 2))
