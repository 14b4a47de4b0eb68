"""JWT access tokens (PROTOCOL §2): `sub`, `exp`, `iat`, `jti`, `iss`, `aud`, one algorithm only."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from ..settings import Settings


class TokenError(Exception):
    """The token cannot be used; `expired` tells the two cases apart for the WebSocket close."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    expires_at: float
    token_id: str
    # The login session the token belongs to (`sid`); None for tokens without one (issued before
    # sessions existed, or by `taskroom token`), which stay valid until they expire.
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    expires_at: float


VERIFIED_CACHE_SIZE = 10_000


class TokenService:
    def __init__(self, settings: Settings) -> None:
        # The key is asked for on first use, not here: commands that build the services but
        # sign nothing (`taskroom user create`) need no JWT_SECRET, nor create a key file.
        self._settings = settings
        self._algorithm = settings.jwt_algorithm
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = settings.jwt_ttl_seconds
        # Tokens already verified, until they expire: a token is immutable, so verifying it again
        # (the signature, the claims) would only repeat the answer. Reconnect and authentication
        # storms present the same tokens over and over. Bounded, oldest dropped first.
        self._verified: OrderedDict[str, Claims] = OrderedDict()

    @property
    def _key(self) -> str:
        return self._settings.signing_key

    def issue(self, user_id: str, *, sid: str | None = None, ttl_seconds: int | None = None) -> IssuedToken:
        ttl = self._ttl if ttl_seconds is None else ttl_seconds
        now = int(time.time())
        claims = {
            "sub": user_id,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "iss": self._issuer,
            "aud": self._audience,
        }
        if sid is not None:
            claims["sid"] = sid
        token = jwt.encode(claims, self._key, algorithm=self._algorithm)
        return IssuedToken(token=token, expires_in=ttl, expires_at=float(now + ttl))

    def verify(self, token: str) -> Claims:
        """Accept only our algorithm, issuer and audience; `none` and foreign algorithms fail."""
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > time.time():
                return known
            del self._verified[token]
        claims = self._verify(token)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "exp", "iat", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired", expired=True) from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise TokenError("invalid token: bad subject")
        sid = claims.get("sid")
        if sid is not None and (not isinstance(sid, str) or not sid):
            raise TokenError("invalid token: bad session id")
        return Claims(
            user_id=subject, expires_at=float(claims["exp"]), token_id=str(claims["jti"]), session_id=sid
        )
