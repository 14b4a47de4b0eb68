"""Access tokens for the client: a fixed string, or a provider called whenever one is needed."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger("taskroom.client")

TokenProvider = Callable[[], str | Awaitable[str]]
#: What ``token=`` accepts: a token, or a plain or ``async`` callable returning one.
TokenSource = str | TokenProvider


class TokenUnavailable(Exception):
    """A provider raises this when it has no token to give and cannot get one by itself (never
    signed in, signed out, its session ended): the client stops as ``unauthorized`` instead of
    retrying. Any other exception from a provider counts as one failed attempt."""


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


async def report_refused(source: TokenSource, token: str) -> None:
    """Tell a provider that keeps its tokens that the server refused `token`.

    A provider may have a ``token_refused(token)`` method (plain or ``async``); the client calls
    it before asking that provider again, so that it fetches a new token instead of handing back
    the one it holds (``TaskroomAPI.token_provider`` then refreshes its session). A failing
    hook is logged and otherwise ignored: the provider is asked again all the same.
    """
    hook = getattr(source, "token_refused", None)
    if not callable(hook):
        return
    try:
        outcome = hook(token)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception as exc:
        logger.warning("the token provider's token_refused hook failed: %r", exc)


def refresh_delay(seconds_left: float, margin: float, minimum: float = 0.5) -> float:
    """Seconds to wait before re-authenticating a token that expires in `seconds_left`.

    The fresh token is sent `margin` seconds before expiry, but never later than halfway through
    what is left (short-lived tokens), and never sooner than `minimum` seconds from now, so a
    server clock far ahead of ours cannot make the client re-authenticate in a tight loop.
    """
    return max(minimum, seconds_left - min(margin, seconds_left / 2))
