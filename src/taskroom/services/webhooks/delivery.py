"""One signed POST of one event to one receiver, and what came of it."""

from __future__ import annotations

import asyncio
import time

import httpx

from ... import __version__
from .addresses import RefusedAddress, check_destination
from .signing import signature_headers
from .store import Attempt, Claim, PendingEvent

USER_AGENT = f"Taskroom-Webhooks/{__version__}"


class Sender:
    """Posts with one shared httpx client; never raises for the receiver's failures."""

    def __init__(self, client: httpx.AsyncClient, timeout: float, allow_private: bool) -> None:
        self._client = client
        self._timeout = timeout
        self._allow_private = allow_private

    async def send(self, claim: Claim, event: PendingEvent) -> Attempt:
        try:
            # Again at each delivery: the name may resolve elsewhere than when the hook was made.
            await check_destination(claim.url, self._allow_private)
        except RefusedAddress as exc:
            return Attempt(event.seq, event.event_id, False, None, f"refused: {exc}")
        body = event.envelope.encode()
        headers = {
            **signature_headers(claim.secret, event.event_id, int(time.time()), body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        try:
            # httpx's timeout bounds each phase; this bounds the whole answer.
            async with asyncio.timeout(self._timeout):
                response = await self._client.post(claim.url, content=body, headers=headers)
        except TimeoutError:
            return Attempt(event.seq, event.event_id, False, None, "no answer in time")
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            # The class only: an exception's text may repeat the URL, whose query may hold a token.
            return Attempt(event.seq, event.event_id, False, None, type(exc).__name__)
        ok = 200 <= response.status_code < 300
        return Attempt(event.seq, event.event_id, ok, response.status_code, None)
