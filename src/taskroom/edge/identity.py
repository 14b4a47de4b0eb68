"""What admission yields: an `Identity`, or one typed `Refusal` with a reason code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Identity:
    """A caller whose credential was verified and whose account exists.

    `expires_at` is when the credential stops counting (epoch seconds): a socket admitted with it
    is closed 4401 then. `session_id` and `key_id` name the refresh session or the API key the
    credential came from, for the verifiers that have one (None for a plain access token)."""

    user_id: str
    expires_at: float
    token_id: str | None = None
    session_id: str | None = None
    key_id: str | None = None


class RefusalReason(StrEnum):
    MISSING = "missing"  # no credential at all
    INVALID = "invalid"  # not one we issued or accept: bad signature, claims, shape
    EXPIRED = "expired"  # ours, but past its expiry
    ACCOUNT_GONE = "account_gone"  # ours and in force, for an account deleted since
    SESSION_ENDED = "session_ended"  # ours, of a session ended since (logout, reuse, password change)


class Refusal(Exception):
    """The caller is not admitted. `str()` is the message the caller is told (REST 401 body,
    document upgrade 401 body); `reason` is the code a caller's code or a log can branch on."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def expired(self) -> bool:
        return self.reason is RefusalReason.EXPIRED
