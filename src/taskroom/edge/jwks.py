"""Tokens of the app's own identity provider (PROTOCOL §5.2): its key set, and their verifier.

The key set (a JSON Web Key Set at AUTH_JWKS_URL) is fetched on first need and cached. Each key
pins its algorithm by its type: RS256 for RSA, ES256 for EC P-256, EdDSA for Ed25519. A token
must name its key (`kid`) and that key's algorithm; `none` and HS* are never accepted, so a
public key can never serve as an HMAC secret.

A `kid` not in the cache triggers a re-fetch, at most one per `refetch_interval` (30 s) whatever
the traffic: tokens waiting for a key share the one fetch in flight, and a flood of forged kids
costs the provider one request per interval. A key published just after a re-fetch therefore
waits up to that long. Cached keys are refreshed in the background once they are `max_age`
old, so a key withdrawn from the set stops working soon after; while the URL cannot be reached,
the cached keys keep working.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import jwt
from jwt import PyJWK
from jwt.exceptions import ExpiredSignatureError, PyJWTError

from .identity import Identity, Refusal, RefusalReason

logger = logging.getLogger("taskroom.auth.jwks")

#: The algorithm each kind of key is pinned to; the only ones this verifier accepts.
ACCEPTED_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})

REFETCH_INTERVAL = 30.0
MAX_AGE = 300.0
FETCH_TIMEOUT = 5.0
MAX_KEY_SET_BYTES = 256 * 1024
_MAX_KID_LENGTH = 256
_MAX_SUBJECT_LENGTH = 255


def pinned_algorithm(jwk: Mapping[str, Any]) -> str | None:
    """The one algorithm a key of this type signs with here, or None for a key we never use."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        return "RS256"
    if kty == "EC" and crv == "P-256":
        return "ES256"
    if kty == "OKP" and crv == "Ed25519":
        return "EdDSA"
    return None


class KeyUnavailable(Exception):
    """No key for the kid: the caller is refused with this message."""


class _FetchFailed(Exception):
    pass


class JwksKeys:
    """The provider's keys by kid, fetched from `url` on first need (see the module's text)."""

    def __init__(
        self,
        url: str,
        *,
        refetch_interval: float = REFETCH_INTERVAL,
        max_age: float = MAX_AGE,
        timeout: float = FETCH_TIMEOUT,
        max_bytes: int = MAX_KEY_SET_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._refetch_interval = refetch_interval
        self._max_age = max_age
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch started, successful or not
        self._in_flight: asyncio.Task[None] | None = None
        self._last_failure: str | None = None
        # Where the keys come from, for the log: scheme and host only (a query may hold a secret).
        parts = urlsplit(url)
        self._source = f"{parts.scheme}://{parts.netloc}"

    async def key(self, kid: str) -> PyJWK:
        """The key named `kid`; raises `KeyUnavailable` with the reason a caller is told."""
        key = self._keys.get(kid)
        if key is not None:
            if self._fetched_at is not None and self._clock() - self._fetched_at >= self._max_age:
                self._start_fetch()  # in the background: the cached key answers now
            return key
        if self._in_flight is None:
            self._start_fetch()
        if self._in_flight is not None:
            # Shielded: a caller that gives up does not cancel the fetch the others wait for.
            await asyncio.shield(self._in_flight)
        key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._keys:
            raise KeyUnavailable(
                "invalid token: the identity provider's keys cannot be fetched at the moment"
                + (f" ({self._last_failure})" if self._last_failure else "")
            )
        raise KeyUnavailable("invalid token: no key of the identity provider has its kid")

    def _start_fetch(self) -> None:
        """Start a fetch unless one is in flight or one started less than the interval ago."""
        now = self._clock()
        if self._in_flight is not None:
            return
        if self._attempted_at is not None and now - self._attempted_at < self._refetch_interval:
            return
        self._attempted_at = now
        task = asyncio.get_running_loop().create_task(self._refresh(), name="jwks-fetch")
        self._in_flight = task
        task.add_done_callback(self._fetch_done)

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        if self._in_flight is task:
            self._in_flight = None

    async def _refresh(self) -> None:
        try:
            keys = parse_key_set(await self._fetch())
        except Exception as exc:  # whatever went wrong, the cached keys stay and no caller sees a 500
            self._last_failure = _describe(exc)
            logger.warning(
                "identity provider keys from %s not fetched: %s%s",
                self._source,
                self._last_failure,
                "; the cached keys stay in use" if self._keys else "",
            )
            return
        self._keys = keys
        self._fetched_at = self._clock()
        self._last_failure = None

    async def _fetch(self) -> bytes:
        # One bound for the whole exchange: per-read timeouts alone let a slow drip go on forever.
        async with (
            asyncio.timeout(self._timeout),
            httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client,
            client.stream("GET", self._url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise _FetchFailed(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
                raise _FetchFailed(f"key set larger than {self._max_bytes} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise _FetchFailed(f"key set larger than {self._max_bytes} bytes")
            return bytes(body)


def parse_key_set(body: bytes) -> dict[str, PyJWK]:
    """The usable signing keys of a JWKS document, by kid (PyJWT parses each key).

    A key is skipped when it has no kid, is not for signatures, is of a type we do not accept, or
    names an algorithm other than the one its type is pinned to. Raises ValueError when none is
    left: a broken answer must not replace keys that work."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("the key set is not JSON") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError('the key set has no "keys" list')
    keys: dict[str, PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid, algorithm = entry.get("kid"), pinned_algorithm(entry)
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH or algorithm is None:
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", algorithm) != algorithm:
            continue
        try:
            keys[kid] = PyJWK(entry, algorithm=algorithm)
        except PyJWTError:
            continue
    if not keys:
        raise ValueError("the key set has no usable signing key (RSA, EC P-256 or Ed25519, with a kid)")
    return keys


def _describe(exc: Exception) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}"
    return str(exc)


class ExternalAccounts(Protocol):
    async def user_for(self, issuer: str, subject: str, email: str | None, name: str | None) -> str:
        """The id of the user that (issuer, subject) names, created on first use."""
        ...


class JwksVerifier:
    """Tokens signed by a key of the provider's set, with its `iss` and `aud`, unexpired."""

    def __init__(self, keys: JwksKeys, issuer: str, audience: str, accounts: ExternalAccounts) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._accounts = accounts

    def claims(self, credential: str) -> bool:
        """A JWT naming a key and an algorithm of ours, or our issuer (read without verifying)."""
        header = _header(credential)
        if header is None:
            return False
        kid = header.get("kid")
        if isinstance(kid, str) and kid and header.get("alg") in ACCEPTED_ALGORITHMS:
            return True
        try:
            unverified = jwt.decode(credential, options={"verify_signature": False})
        except PyJWTError:
            return False
        return unverified.get("iss") == self._issuer

    async def verify(self, credential: str) -> Identity:
        header = _header(credential)
        if header is None:
            raise Refusal(RefusalReason.INVALID, "invalid token: malformed")
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise Refusal(
                RefusalReason.INVALID,
                "invalid token: the identity provider's tokens are signed with RS256, ES256 or EdDSA",
            )
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
            raise Refusal(RefusalReason.INVALID, "invalid token: it names no key (kid)")
        try:
            key = await self._keys.key(kid)
        except KeyUnavailable as exc:
            raise Refusal(RefusalReason.INVALID, str(exc)) from None
        if key.algorithm_name != algorithm:
            raise Refusal(RefusalReason.INVALID, "invalid token: its algorithm is not its key's")
        try:
            claims: dict[str, Any] = jwt.decode(
                credential,
                key,
                algorithms=[key.algorithm_name],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "iss", "sub"]},
            )
        except ExpiredSignatureError:
            raise Refusal(RefusalReason.EXPIRED, "token expired") from None
        except PyJWTError as exc:
            raise Refusal(RefusalReason.INVALID, f"invalid token: {exc}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT_LENGTH:
            raise Refusal(RefusalReason.INVALID, "invalid token: sub must be a text of 1 to 255 characters")
        email = claims.get("email")
        # An address the provider says it has not verified is not one to find members by.
        if not isinstance(email, str) or claims.get("email_verified") is False:
            email = None
        name = claims.get("name")
        user_id = await self._accounts.user_for(
            self._issuer, subject, email, name if isinstance(name, str) else None
        )
        return Identity(user_id, float(claims["exp"]))


def _header(credential: str) -> dict[str, Any] | None:
    try:
        return jwt.get_unverified_header(credential)
    except PyJWTError:
        return None
