"""Argon2id password hashing, off the event loop (a hash costs tens of milliseconds of CPU).

At most `max_concurrent` hashes or verifications run at once: each holds ARGON2_MEMORY_KIB
(64 MiB by default), so a burst of registrations or logins queues instead of exhausting memory
and every worker thread.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Used when no bound is given; PASSWORD_HASH_CONCURRENCY's default.
DEFAULT_MAX_CONCURRENT = 2


class PasswordService:
    def __init__(
        self, time_cost: int = 3, memory_cost_kib: int = 65536, max_concurrent: int = DEFAULT_MAX_CONCURRENT
    ) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib)
        self._slots = asyncio.Semaphore(max_concurrent)
        # Verified against when the email is unknown, so a miss costs as much as a wrong password
        # and response time does not tell which emails are registered.
        self._decoy = self._hasher.hash("decoy-password-for-timing")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches. An account without a password (None, or the empty hash of a
        user of the app's identity provider) never matches, yet costs as much as one that does."""
        decoy = not password_hash
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash or self._decoy, password, decoy)

    def _verify(self, password_hash: str, password: str, decoy: bool) -> bool:
        try:
            ok = self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and not decoy
