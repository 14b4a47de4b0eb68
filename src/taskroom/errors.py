"""The REST error tree and its wire form: `{"error": {"code", "message", ...}}` (PROTOCOL §2)."""

from __future__ import annotations

import math
from typing import Any


class ApiError(Exception):
    """An error a client caused or must react to; never a server fault."""

    status_code = 400
    code = "BAD_REQUEST"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class NotFound(ApiError):
    """Also what a non-member gets for anything of a workspace: existence does not leak."""

    status_code = 404
    code = "NOT_FOUND"


class Forbidden(ApiError):
    status_code = 403
    code = "FORBIDDEN"


class Unauthorized(ApiError):
    status_code = 401
    code = "UNAUTHORIZED"


class InvalidCredentials(ApiError):
    status_code = 401
    code = "INVALID_CREDENTIALS"


class InvalidRefreshToken(ApiError):
    """A refresh token that is unknown, spent, expired, or of a session that ended."""

    status_code = 401
    code = "INVALID_REFRESH_TOKEN"


class Conflict(ApiError):
    status_code = 409
    code = "CONFLICT"


class AlreadyExists(ApiError):
    status_code = 409
    code = "ALREADY_EXISTS"


class IdempotencyKeyReused(ApiError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"


class Gone(ApiError):
    status_code = 410
    code = "GONE"


class TooManyRequests(ApiError):
    """Answered with `Retry-After` (whole seconds, at least 1)."""

    status_code = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}


class InvalidField(ApiError):
    """A body that is well-formed but names something unusable (a non-member assignee, a foreign task)."""

    status_code = 422
    code = "VALIDATION_ERROR"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", fields=[{"field": field, "message": message}])


class UnknownParameters(ApiError):
    """Query parameters the route does not take: a misspelt filter must not silently list everything."""

    status_code = 422
    code = "VALIDATION_ERROR"

    def __init__(self, names: list[str]) -> None:
        message = "is not a parameter of this route"
        super().__init__(
            "; ".join(f"{name}: {message}" for name in names),
            fields=[{"field": name, "message": message} for name in names],
        )
