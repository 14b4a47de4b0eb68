"""The error answers each route may give, declared in the OpenAPI schema.

Every error has the one body of PROTOCOL §2 (`ErrorOut`); FastAPI's own 422 model (`detail`) is
replaced, since the app answers validation errors in that same shape. A client generated from
the schema then knows every status it must handle, and the schema can be checked against the
running server (tests/api/test_openapi_fuzz.py).
"""

from __future__ import annotations

from typing import Any

from ..schemas import ErrorOut

_DESCRIPTIONS = {
    401: "No bearer token, or one that is bad, expired, or of an account that no longer exists "
    "(UNAUTHORIZED); wrong email or password at login (INVALID_CREDENTIALS); a refresh token that is "
    "unknown, spent, expired or of an ended session (INVALID_REFRESH_TOKEN)",
    403: "A member whose role is too low for this (FORBIDDEN)",
    404: "No such workspace, task, member or user, or one the caller cannot see (NOT_FOUND)",
    409: "A conflict: taken (ALREADY_EXISTS), or changed by someone else since baseVersion (CONFLICT)",
    410: "Events older than the retention (GONE): reload the workspace; or an invitation that was "
    "accepted, revoked or has expired (GONE)",
    422: "A bad body, query or header (VALIDATION_ERROR, with the failing fields), or an "
    "Idempotency-Key reused for another request (IDEMPOTENCY_KEY_REUSED)",
    429: "Too many attempts (RATE_LIMITED); Retry-After says when to try again",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer each of `statuses` with an error body."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorOut, "description": _DESCRIPTIONS[status]}
        if status == 429:
            entry["headers"] = _RETRY_AFTER
        declared[status] = entry
    return declared


# Sets shared by many routes.
AUTHENTICATED = (401, 422)
READ_IN_WORKSPACE = (401, 404, 422)
WRITE_IN_WORKSPACE = (401, 403, 404, 422)
