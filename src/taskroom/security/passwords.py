"""Argon2id password hashing, off the event loop (a hash costs tens of milliseconds of CPU)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class PasswordService:
    def __init__(self, time_cost: int = 3, memory_cost_kib: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib)
        # Verified against when the email is unknown, so a miss costs as much as a wrong password
        # and response time does not tell which emails are registered.
        self._decoy = self._hasher.hash("decoy-password-for-timing")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(
            self._verify, password_hash or self._decoy, password, password_hash is None
        )

    def _verify(self, password_hash: str, password: str, decoy: bool) -> bool:
        try:
            ok = self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and not decoy
