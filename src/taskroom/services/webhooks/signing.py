"""Standard Webhooks signatures (https://www.standardwebhooks.com): secrets and the signed headers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
# Standard Webhooks asks for keys of 24 to 64 random bytes.
MIN_KEY_BYTES, MAX_KEY_BYTES, NEW_KEY_BYTES = 24, 64, 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(NEW_KEY_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret; ValueError when it is not one."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"must start with {PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("must be whsec_ followed by base64") from exc
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes of key")
    return key


def signature_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a receiver checks: `v1,` + base64 HMAC-SHA256 of "id.timestamp.body"."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }
