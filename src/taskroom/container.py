"""The object graph of one node, built once per app in its lifespan (no module-level singletons)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from .edge.audit import REST, RefusalLog
from .edge.authenticator import AccessTokenVerifier, ApiKeyVerifier, Authenticator, Verifier
from .edge.jwks import JwksKeys, JwksVerifier
from .metrics import NodeMetrics
from .security.limit_store import LimitStore, MemoryLimitStore
from .security.login_throttle import LoginThrottle
from .security.passwords import PasswordService
from .security.rate_limits import RequestLimits
from .security.tokens import TokenService
from .services.activity import TaskActivity
from .services.api_keys import KEY_PREFIX, ApiKeyService
from .services.comments import CommentService
from .services.database import Database
from .services.external_identities import ExternalIdentityService
from .services.idempotency import IdempotencyStore
from .services.invitations import InvitationService
from .services.log import WorkspaceLog
from .services.notifications import NotificationService
from .services.publisher import EventPublisher
from .services.sessions import SessionService, purge_ended_sessions
from .services.tasks import TaskService
from .services.trash import empty_trash
from .services.users import UserService
from .services.webhooks import WebhookService
from .services.workspaces import WorkspaceService
from .services.writes import WriteRunner
from .settings import Settings


class RealtimeStatus(Protocol):
    async def broker_healthy(self) -> bool: ...


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    tokens: TokenService
    log: WorkspaceLog
    idempotency: IdempotencyStore
    users: UserService
    sessions: SessionService
    workspaces: WorkspaceService
    tasks: TaskService
    activity: TaskActivity
    comments: CommentService
    notifications: NotificationService
    invitations: InvitationService
    api_keys: ApiKeyService
    webhooks: WebhookService
    metrics: NodeMetrics
    limits: RequestLimits
    # Who a credential names, for every entry point (REST, both WebSocket endpoints).
    authenticator: Authenticator
    # REST's refusals, counted and logged (at debug: the access line already shows the 401).
    refusals: RefusalLog
    realtime: RealtimeStatus | None = None

    async def prune(self) -> int:
        """Drop log rows past WS_EVENT_RETENTION, tasks trashed past TRASH_RETENTION_DAYS,
        expired idempotency records and old sessions."""
        async with self.db.transaction() as session:
            removed = await self.log.prune(
                session, timedelta(seconds=self.settings.ws_event_retention_seconds)
            )
            await empty_trash(session, timedelta(days=self.settings.trash_retention_days))
            await self.idempotency.purge_expired(session)
            # Ended and expired sessions are kept a day for the record, then go with their spent tokens.
            await purge_ended_sessions(session, timedelta(days=1))
        return removed


def build_services(
    settings: Settings,
    db: Database,
    log: WorkspaceLog,
    publisher: EventPublisher,
    metrics: NodeMetrics,
    realtime: RealtimeStatus | None = None,
    limit_store: LimitStore | None = None,
    wake_webhooks: Callable[[], None] | None = None,
) -> Services:
    """The services of a node; limits are counted in `limit_store` (this node's memory by default)."""
    store = limit_store if limit_store is not None else MemoryLimitStore()
    tokens = TokenService(settings)
    idempotency = IdempotencyStore(timedelta(seconds=settings.idempotency_ttl_seconds))
    writes = WriteRunner(db, idempotency, publisher)
    passwords = PasswordService(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.password_hash_concurrency
    )
    throttle = LoginThrottle(
        store,
        settings.login_max_failures,
        settings.login_max_failures_per_client,
        settings.login_failure_window_seconds,
        max_per_account=settings.login_max_failures_per_account,
    )
    sessions = SessionService(db, tokens, timedelta(seconds=settings.jwt_refresh_ttl_seconds))
    users = UserService(db, passwords, tokens, throttle, sessions)
    api_keys = ApiKeyService(db, log, writes)
    return Services(
        settings=settings,
        db=db,
        tokens=tokens,
        log=log,
        idempotency=idempotency,
        users=users,
        sessions=sessions,
        workspaces=WorkspaceService(db, log, writes, api_keys),
        tasks=TaskService(db, log, writes),
        activity=TaskActivity(db, log),
        comments=CommentService(db, log, writes),
        notifications=NotificationService(db),
        invitations=InvitationService(db, log, writes),
        api_keys=api_keys,
        webhooks=WebhookService(
            db,
            writes,
            settings.webhook_allow_private,
            settings.webhook_attempts_kept,
            wake_webhooks or _nothing,
        ),
        metrics=metrics,
        limits=RequestLimits(settings, store),
        authenticator=Authenticator(_verifiers(settings, db, tokens, api_keys), users, sessions),
        refusals=RefusalLog(REST, metrics.credential_refused, logging.DEBUG),
        realtime=realtime,
    )


def _verifiers(
    settings: Settings, db: Database, tokens: TokenService, api_keys: ApiKeyService
) -> list[Verifier]:
    """The kinds of credential this node accepts, most specific first: an API key by its prefix,
    and this node's own tokens, which claim every shape, last (edge/authenticator.py)."""
    verifiers: list[Verifier] = [ApiKeyVerifier(api_keys, KEY_PREFIX)]
    if settings.auth_jwks_url and settings.auth_issuer and settings.auth_audience:
        verifiers.append(
            JwksVerifier(
                JwksKeys(settings.auth_jwks_url),
                settings.auth_issuer,
                settings.auth_audience,
                ExternalIdentityService(db),
            )
        )
    verifiers.append(AccessTokenVerifier(tokens))
    return verifiers


def _nothing() -> None:
    return None
