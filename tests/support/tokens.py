"""Hand-made access tokens, good and bad, signed with the test nodes' secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import jwt

from tests.support.servers import TEST_SETTINGS

SECRET: str = TEST_SETTINGS["jwt_secret"]


def claims_for(user_id: str, **overrides: Any) -> dict[str, Any]:
    """The claims the server itself would issue, with `overrides` applied (None removes a claim)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "iss": "taskroom",
        "aud": "taskroom",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def signed(claims: dict[str, Any], *, secret: str = SECRET, algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():
        # HS512 with the (HS256-sized) test secret: exactly the token a test wants refused.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=algorithm)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def unsigned(claims: dict[str, Any]) -> str:
    """`alg: none` with an empty signature, the classic forgery."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


def hmac_signed_with_header(claims: dict[str, Any], header_alg: str, *, secret: str = SECRET) -> str:
    """A token whose header names `header_alg` but that is signed HMAC-SHA256 with the real secret.

    Built by hand because PyJWT refuses to sign RS256 with a shared secret, which is the point:
    a server must not pick the verification algorithm from the token's own header.
    """
    signing_input = f"{_segment({'alg': header_alg, 'typ': 'JWT'})}.{_segment(claims)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def expiring_in(user_id: str, seconds: int) -> str:
    """A valid token of `user_id` that expires `seconds` from now (whole seconds, as JWT `exp` is)."""
    return signed(claims_for(user_id, exp=int(time.time()) + seconds))


def _long_ago() -> dict[str, int]:
    now = int(time.time())
    return {"iat": now - 7200, "exp": now - 3600}


OTHER_SECRET = "another-secret-that-is-long-enough-0123456789"

# Each maker builds, for a real user id, a token that must be refused.
BAD_TOKENS: dict[str, Callable[[str], str]] = {
    "garbage": lambda _uid: "this-is-not-a-jwt",
    "three-garbage-segments": lambda _uid: "abc.def.ghi",
    "wrong-signature": lambda uid: signed(claims_for(uid), secret=OTHER_SECRET),
    "expired": lambda uid: signed(claims_for(uid, **_long_ago())),
    "alg-none": lambda uid: unsigned(claims_for(uid)),
    "alg-none-with-signature": lambda uid: unsigned(claims_for(uid)) + "c2lnbmF0dXJl",
    "foreign-alg-HS512": lambda uid: signed(claims_for(uid), algorithm="HS512"),
    "foreign-alg-RS256-header": lambda uid: hmac_signed_with_header(claims_for(uid), "RS256"),
    "wrong-issuer": lambda uid: signed(claims_for(uid, iss="someone-else")),
    "wrong-audience": lambda uid: signed(claims_for(uid, aud="another-app")),
    "no-expiry": lambda uid: signed(claims_for(uid, exp=None)),
    "no-issuer": lambda uid: signed(claims_for(uid, iss=None)),
    "no-audience": lambda uid: signed(claims_for(uid, aud=None)),
    "no-token-id": lambda uid: signed(claims_for(uid, jti=None)),
    "no-subject": lambda uid: signed(claims_for(uid, sub=None)),
    "empty-subject": lambda uid: signed(claims_for(uid, sub="")),
    # Correctly signed, but for an account this server does not have (deleted, or another deployment's).
    "unknown-account": lambda _uid: signed(claims_for(str(uuid.uuid4()))),
}
