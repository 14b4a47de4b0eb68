"""One authenticator for every entry point: verify a credential, then that its account exists.

A credential is verified by the first `Verifier` that claims its shape. The access-token
verifier (this node's JWTs, PROTOCOL §2) claims every shape, so it goes last. Before it, with
AUTH_JWKS_URL set, the app's identity provider's tokens (`jwks.JwksVerifier`, PROTOCOL §5.2),
recognised by the `kid` and algorithm of their header or by their issuer. The kinds of credential
still to come each add one verifier the same way, recognised by shape: an API key by its prefix,
a refresh session by the session id its token carries. None of the callers changes when one is
added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ..security.tokens import TokenError, TokenService
from .identity import Identity, Refusal, RefusalReason


class Verifier(Protocol):
    def claims(self, credential: str) -> bool:
        """Whether the credential has this verifier's shape (cheap: no signature, no I/O)."""
        ...

    async def verify(self, credential: str) -> Identity:
        """The identity the credential names; raises `Refusal` (INVALID or EXPIRED)."""
        ...


class Accounts(Protocol):
    async def exists(self, user_id: str) -> bool: ...


class Sessions(Protocol):
    async def is_live(self, user_id: str, session_id: str) -> bool:
        """Whether the session is live and its account exists (one read for both)."""
        ...


class AccessTokenVerifier:
    """This node's signed access tokens (`security/tokens.py`): any shape, so it goes last."""

    def __init__(self, tokens: TokenService) -> None:
        self._tokens = tokens

    def claims(self, credential: str) -> bool:
        return True

    async def verify(self, credential: str) -> Identity:
        try:
            claims = self._tokens.verify(credential)
        except TokenError as exc:
            reason = RefusalReason.EXPIRED if exc.expired else RefusalReason.INVALID
            raise Refusal(reason, str(exc)) from None
        return Identity(
            claims.user_id, claims.expires_at, token_id=claims.token_id, session_id=claims.session_id
        )


#: Told the reason of every refusal (an entry point's metrics and log: `audit.RefusalLog`).
RefusalObserver = Callable[[RefusalReason], None]


class Authenticator:
    def __init__(
        self,
        verifiers: Sequence[Verifier],
        accounts: Accounts,
        sessions: Sessions | None = None,
        on_refusal: RefusalObserver | None = None,
    ) -> None:
        if not verifiers:
            raise ValueError("an authenticator needs at least one verifier")
        self._verifiers = tuple(verifiers)
        self._accounts = accounts
        self._sessions = sessions
        self._on_refusal = on_refusal

    def observed(self, on_refusal: RefusalObserver) -> Authenticator:
        """The same checks, with every refusal also told to `on_refusal` (one per entry point)."""
        return Authenticator(self._verifiers, self._accounts, self._sessions, on_refusal)

    async def verify(self, credential: str | None) -> Identity:
        """The credential's identity, without the account check (for a caller that reads the
        account anyway, as the real-time session does with its memberships)."""
        try:
            return await self._verify(credential)
        except Refusal as refusal:
            self._refused(refusal)
            raise

    async def verify_session(self, credential: str | None) -> Identity:
        """Verified, and its session (when it names one) live; the account check is left to a
        caller that reads the account anyway (the real-time session, with its memberships)."""
        try:
            identity = await self._verify(credential)
            if identity.session_id is not None and self._sessions is not None:
                await self._require_live_session(identity)
        except Refusal as refusal:
            self._refused(refusal)
            raise
        return identity

    async def authenticate(self, credential: str | None) -> Identity:
        """Verified, and its account still there: a credential outlives an account deleted
        behind its back. Raises `Refusal`."""
        try:
            return await self._authenticate(credential)
        except Refusal as refusal:
            self._refused(refusal)
            raise

    def refused(self, refusal: Refusal) -> None:
        """Count a refusal its caller found itself (the real-time session finds a deleted
        account in the memberships it reads anyway)."""
        self._refused(refusal)

    def _refused(self, refusal: Refusal) -> None:
        if self._on_refusal is not None:
            self._on_refusal(refusal.reason)

    async def _verify(self, credential: str | None) -> Identity:
        if not credential:
            raise Refusal(RefusalReason.MISSING, "missing token")
        for verifier in self._verifiers:
            if verifier.claims(credential):
                return await verifier.verify(credential)
        raise Refusal(RefusalReason.INVALID, "invalid token: not a kind of credential this server accepts")

    async def _require_live_session(self, identity: Identity) -> None:
        assert identity.session_id is not None and self._sessions is not None
        if not await self._sessions.is_live(identity.user_id, identity.session_id):
            raise Refusal(
                RefusalReason.SESSION_ENDED,
                "invalid token: its session ended or its account no longer exists",
            )

    async def _authenticate(self, credential: str | None) -> Identity:
        identity = await self._verify(credential)
        if identity.session_id is not None and self._sessions is not None:
            await self._require_live_session(identity)  # the session's read covers the account
            return identity
        if not await self._accounts.exists(identity.user_id):
            raise Refusal(RefusalReason.ACCOUNT_GONE, "invalid token: the account no longer exists")
        return identity
