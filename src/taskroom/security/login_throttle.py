"""Failed-login limiting: per (account, client address), per address, and a ceiling per account.

The tight limit counts one address's failures on one account: guessing a password from one
place is slowed down, and nobody can lock an account out for everyone else by failing on it,
because the owner's own address has its own count. A looser ceiling per account bounds guessing
spread over many addresses; a limit per address bounds one address trying many accounts (larger,
since many honest users share an address behind a proxy or NAT).

An attempt counts as a failure from the moment it starts, so a burst of concurrent guesses
cannot all pass the check before the first one fails; a successful login takes its own count back
and clears its (account, address) count. The counts live in a `LimitStore`: this node's memory,
or Redis, where every node of the service counts together.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from .limit_store import LimitStore, Window

# Used when no ceiling is given: loose enough that reaching it takes many addresses.
DEFAULT_MAX_PER_ACCOUNT = 100


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    email: str
    client: str
    hit_id: str
    retry_after: float | None  # None: the attempt may go on (and counts as a failure until it succeeds)


class LoginThrottle:
    def __init__(
        self,
        store: LimitStore,
        max_per_account_client: int,
        max_per_client: int,
        window_seconds: float,
        max_per_account: int = DEFAULT_MAX_PER_ACCOUNT,
    ) -> None:
        self._store = store
        self._max_pair = max_per_account_client
        self._max_client = max_per_client
        self._max_account = max(max_per_account, max_per_account_client)
        self._window = window_seconds

    async def attempt(self, email: str, client: str) -> LoginAttempt:
        """Start an attempt, counted as a failure until `succeeded`; or say how long to wait first."""
        hit_id = uuid.uuid4().hex
        wait = await self._store.hit(self._windows(email, client), hit_id)
        return LoginAttempt(email, client, hit_id, wait)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        pair, client, account = self._windows(attempt.email, attempt.client)
        await self._store.clear(pair)
        await self._store.take_back(client, attempt.hit_id)
        await self._store.take_back(account, attempt.hit_id)

    def _windows(self, email: str, client: str) -> tuple[Window, Window, Window]:
        # JSON keeps the two parts apart whatever characters they hold (an IPv6 address has colons).
        return (
            Window("login:pair:" + json.dumps([email, client]), self._max_pair, self._window),
            Window("login:client:" + json.dumps(client), self._max_client, self._window),
            Window("login:account:" + json.dumps(email), self._max_account, self._window),
        )
