"""Runtime settings, read from the environment (names of PROTOCOL.md §1)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from functools import cached_property
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .durations import Seconds, from_milliseconds
from .security.dev_secret import SigningKeyError, development_key, needs_configured_secret

# A whole number written as the environment has it: `30000`, ` 30_000 `, `30000.0`. Signs pass
# here so that `-5` is refused by the field's bound ("greater than 0"), not as "not a number".
_WHOLE = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0*)?")


def _whole_number_of(unit: str, example: int) -> Callable[[object], object]:
    """The parser of one duration variable: a whole number of `unit`, or an error that says so."""

    def parse(value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
            return int(value.strip().split(".")[0].replace("_", ""))
        raise PydanticCustomError(
            "duration_parsing",
            "{value} is not a whole number of {unit} (like {example})",
            {"value": repr(value), "unit": unit, "example": example},
        )

    return parse


# The units of the environment, as documented (PROTOCOL.md §1, docs/configuration.md). They stay
# whole numbers on the model (CONNECT announces two of them as is); the code reads seconds.
Milliseconds = Annotated[int, BeforeValidator(_whole_number_of("milliseconds", 30000))]
WholeSeconds = Annotated[int, BeforeValidator(_whole_number_of("seconds", 3600))]


class Settings(BaseSettings):
    """Every knob of one node. Times are `Milliseconds` unless the name ends in `_seconds`; the
    code reads each millisecond one as `Seconds` through its `*_seconds` property (at the end)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # `production` refuses to start without JWT_SECRET (as does a PostgreSQL DATABASE_URL).
    taskroom_env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./taskroom.db"
    redis_url: str | None = None
    # Prefix of every Redis channel and key of this service (several services may share a Redis).
    redis_prefix: str = "taskroom:"
    jwt_secret: str | None = None
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "taskroom"
    jwt_audience: str = "taskroom"
    jwt_ttl_seconds: WholeSeconds = Field(3600, gt=0)
    # Lifetime of a refresh token; each refresh hands out a new one with this lifetime again, so
    # a session used at least this often never ends by itself.
    jwt_refresh_ttl_seconds: WholeSeconds = Field(2_592_000, gt=0)
    node_id: str = Field(default_factory=lambda: f"node-{uuid.uuid4().hex[:8]}")

    # Tokens of the app's own identity provider (PROTOCOL §5.2, docs/security.md): the URL of its
    # JSON Web Key Set, and the `iss` and `aud` its tokens carry. All three, or none.
    auth_jwks_url: str | None = None
    auth_issuer: str | None = Field(None, max_length=512)
    auth_audience: str | None = None

    ws_ping_interval: Milliseconds = Field(30000, gt=0)
    ws_connection_timeout: Milliseconds = Field(60000, gt=0)
    ws_max_connections: int = Field(10000, gt=0)
    ws_heartbeat_interval: Milliseconds = Field(5000, gt=0)
    ws_enable_presence: bool = True
    ws_enable_typing: bool = True
    ws_enable_cursors: bool = True
    ws_auth_timeout: Milliseconds = Field(10000, gt=0)
    ws_max_message_bytes: int = Field(65536, gt=0)
    ws_max_connections_per_user: int = Field(20, gt=0)
    ws_rate_limit: float = Field(20.0, gt=0)
    ws_rate_limit_burst: float = Field(40.0, gt=0)
    ws_event_retention: Milliseconds = Field(604_800_000, gt=0)
    # Days a deleted task stays in the trash (PROTOCOL §7) before the node's periodic pruning
    # deletes it for good, with its shared description. A fraction is allowed (tests, demos).
    trash_retention_days: float = Field(30.0, gt=0)
    ws_allowed_origins: str | None = None
    # Origins (`https://app.example.com`) whose pages may call REST, load /client/* and read the
    # health check (PROTOCOL §5.5); unset: none. Never `*`.
    cors_allowed_origins: str | None = None
    # Bytes queued for one connection before it counts as a slow consumer and is closed 1013.
    ws_max_buffered_bytes: int = Field(1_048_576, gt=0)
    # How long an out-of-order event waits for the missing seq before the log is read to fill the gap.
    ws_gap_fill_delay: Milliseconds = Field(200, ge=0)
    # How often a node compares each active room with the log, so an event committed but never
    # published (its publisher died) still reaches clients.
    ws_log_poll_interval: Milliseconds = Field(2000, gt=0)
    # WebSockets from one client address that have not authenticated yet; more are refused with
    # HTTP 429 before the upgrade, so idle sockets from one place cannot fill WS_MAX_CONNECTIONS.
    ws_max_pending_per_address: int = Field(64, gt=0)

    # TLS on the node's own socket: a PEM certificate (chain) and its key (the key may also sit in
    # the certificate file). Neither: plain HTTP, for a node behind a TLS-terminating proxy.
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # A request's line and headers must arrive within this time and size: slow or endless heads
    # are dropped (408 / connection closed), oversized ones refused with 431.
    http_header_timeout: Milliseconds = Field(10000, gt=0)
    http_max_header_bytes: int = Field(65536, ge=1024)
    # A request's body must be complete within this time from the end of its head (else 408), and
    # take at most this many bytes (else 413 PAYLOAD_TOO_LARGE, answered before it is read whole).
    http_body_timeout: Milliseconds = Field(30000, gt=0)
    http_max_body_bytes: int = Field(1_048_576, ge=1024)
    # Exposure: metrics and API docs can be switched off or (metrics) put behind a bearer token.
    metrics_enabled: bool = True
    metrics_token: str | None = None
    api_docs_enabled: bool = True

    # Shared task descriptions (WS /api/v1/tasks/{taskId}/doc, docs/descriptions.md).
    # The largest a document's encoded state may grow (its text is also bounded by the REST
    # limit of a description, 20,000 characters); an update that would pass either is refused.
    doc_max_bytes: int = Field(1_048_576, gt=0)
    # Updates that wait in a document for ones they depend on (Yjs keeps them pending): at most
    # this many bytes (a client's update past it is refused) and this long (ms), then dropped.
    doc_pending_max_bytes: int = Field(131_072, gt=0)
    doc_pending_max_age: Milliseconds = Field(30_000, gt=0)
    # Updates stored for a document before they are folded into its snapshot.
    doc_compact_updates: int = Field(200, gt=0)
    # Quiet time after a document change before the task's plain `description` follows it.
    doc_description_delay: Milliseconds = Field(300, ge=0)
    # Frames one document connection may send per second (and in a burst). A faster client is
    # not refused (a dropped Yjs update would leave its later ones pending): it is read slower.
    doc_rate_limit: float = Field(50.0, gt=0)
    doc_rate_limit_burst: float = Field(100.0, gt=0)
    # Document connections of one user (on every node of the service with Redis), counted apart
    # from the user's WS_MAX_CONNECTIONS_PER_USER connections to /api/v1/ws.
    doc_max_connections_per_user: int = Field(20, gt=0)
    # How often a node re-reads each open document's stored updates, so that an update whose
    # relay between nodes was lost (Redis away) still arrives.
    doc_resync_interval: Milliseconds = Field(5000, gt=0)

    # Failed logins on one account from one client address: the owner's own address keeps its
    # own count, so failures elsewhere never lock the owner out.
    login_max_failures: int = Field(5, gt=0)
    # Larger: honest users behind one proxy or NAT share an address.
    login_max_failures_per_client: int = Field(50, gt=0)
    # The ceiling on one account over all addresses (guessing spread over many addresses).
    login_max_failures_per_account: int = Field(100, gt=0)
    login_failure_window_seconds: WholeSeconds = Field(300, gt=0)
    # Registrations (attempts, taken emails included) from one client address per window.
    register_max_per_client: int = Field(20, gt=0)
    register_window_seconds: WholeSeconds = Field(3600, gt=0)
    # Member additions by one user per minute: 404 vs 201 would otherwise enumerate accounts.
    member_add_max_per_minute: int = Field(30, gt=0)
    # Argon2id cost; the defaults follow argon2-cffi's RFC 9106 "low memory" profile.
    argon2_time_cost: int = Field(3, gt=0)
    argon2_memory_kib: int = Field(65536, ge=8)
    # Hashes computed at once (each holds ARGON2_MEMORY_KIB); more requests wait their turn.
    password_hash_concurrency: int = Field(2, gt=0)
    idempotency_ttl_seconds: WholeSeconds = Field(86_400, gt=0)
    log_level: str = "info"

    # Webhooks (PROTOCOL §8, docs/webhooks.md). A receiver's answer must come within this time
    # (ms), else the attempt failed.
    webhook_timeout: Milliseconds = Field(10_000, gt=0)
    # Failures of one event are retried for this long, then the hook is marked `failing`.
    webhook_retry_window_seconds: WholeSeconds = Field(86_400, gt=0)
    # The back-off between attempts: exponential from the first interval up to the max (ms), each
    # wait drawn at random below it ("full jitter", so failed receivers are not hit in step).
    webhook_retry_initial_interval: Milliseconds = Field(1_000, gt=0)
    webhook_retry_max_interval: Milliseconds = Field(600_000, gt=0)
    # The safety net of prompt delivery: hooks are also looked at this often (ms).
    webhook_poll_interval: Milliseconds = Field(5_000, gt=0)
    # Deliveries in flight at once on one node (each hook delivers one event at a time).
    webhook_max_concurrency: int = Field(16, gt=0)
    # How long a node's claim on a hook lasts unless renewed (ms); a node that dies holding one
    # frees it after this. Never shorter than three WEBHOOK_TIMEOUTs.
    webhook_lease_timeout: Milliseconds = Field(60_000, gt=0)
    # Attempts kept per hook for GET …/webhooks/{hookId}.
    webhook_attempts_kept: int = Field(20, gt=0)
    # Receivers on loopback, private or link-local addresses are refused unless this is true.
    webhook_allow_private: bool = False

    @field_validator("jwt_algorithm")
    @classmethod
    def _no_none_algorithm(cls, value: str) -> str:
        if value.lower() == "none":
            raise ValueError("JWT_ALGORITHM 'none' is never accepted")
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _explicit_origins(cls, value: str | None) -> str | None:
        for origin in _origin_list(value):
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin like https://app.example.com "
                    "(scheme, host and optional port; never '*')"
                )
        return value

    @field_validator("auth_jwks_url")
    @classmethod
    def _trusted_key_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _is_https_or_loopback(value):
            # The keys decide who is signed in: fetched over plain HTTP from another host, anyone
            # on the path could hand us theirs.
            raise ValueError(
                "must be an https:// URL, or http:// on a loopback address (127.0.0.1, ::1, localhost)"
            )
        return value

    @model_validator(mode="after")
    def _identity_provider_triple(self) -> Settings:
        given = {
            "AUTH_JWKS_URL": self.auth_jwks_url,
            "AUTH_ISSUER": self.auth_issuer,
            "AUTH_AUDIENCE": self.auth_audience,
        }
        missing = [name for name, value in given.items() if not value]
        if missing and len(missing) < len(given):
            raise ValueError(
                f"{', '.join(missing)} not set: AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE go together"
            )
        if self.auth_issuer and self.auth_issuer == self.jwt_issuer:
            # Tokens are told apart by their issuer: ours must never be taken for the provider's.
            raise ValueError("AUTH_ISSUER must differ from JWT_ISSUER (this node's own tokens)")
        return self

    @model_validator(mode="after")
    def _ssl_pair(self) -> Settings:
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("SSL_KEYFILE is set without SSL_CERTFILE")
        return self

    @cached_property
    def signing_key(self) -> str:
        """The JWT key: JWT_SECRET, else (development on SQLite only) the key kept beside the
        database file, so a restart signs no one out. Raises SigningKeyError when neither can be
        used; `taskroom serve` asks before it listens, so that is one line and a non-zero exit."""
        if self.jwt_secret:
            return self.jwt_secret
        if needs_configured_secret(self.database_url, self.taskroom_env):
            raise SigningKeyError(
                "JWT_SECRET is not set: a production node (TASKROOM_ENV=production or a PostgreSQL "
                "DATABASE_URL) needs it, the same on every node; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return development_key(self.database_url)

    # The millisecond settings in seconds, the unit of everything that waits (see durations.py).
    # Read these, never `/ 1000` at a call site.

    @property
    def ws_ping_interval_seconds(self) -> Seconds:
        return from_milliseconds(self.ws_ping_interval)

    @property
    def ws_connection_timeout_seconds(self) -> Seconds:
        return from_milliseconds(self.ws_connection_timeout)

    @property
    def ws_heartbeat_interval_seconds(self) -> Seconds:
        return from_milliseconds(self.ws_heartbeat_interval)

    @property
    def ws_auth_timeout_seconds(self) -> Seconds:
        return from_milliseconds(self.ws_auth_timeout)

    @property
    def ws_event_retention_seconds(self) -> Seconds:
        return from_milliseconds(self.ws_event_retention)

    @property
    def ws_gap_fill_delay_seconds(self) -> Seconds:
        return from_milliseconds(self.ws_gap_fill_delay)

    @property
    def ws_log_poll_interval_seconds(self) -> Seconds:
        return from_milliseconds(self.ws_log_poll_interval)

    @property
    def http_header_timeout_seconds(self) -> Seconds:
        return from_milliseconds(self.http_header_timeout)

    @property
    def http_body_timeout_seconds(self) -> Seconds:
        return from_milliseconds(self.http_body_timeout)

    @property
    def doc_pending_max_age_seconds(self) -> Seconds:
        return from_milliseconds(self.doc_pending_max_age)

    @property
    def doc_description_delay_seconds(self) -> Seconds:
        return from_milliseconds(self.doc_description_delay)

    @property
    def doc_resync_interval_seconds(self) -> Seconds:
        return from_milliseconds(self.doc_resync_interval)

    @property
    def webhook_timeout_seconds(self) -> Seconds:
        return from_milliseconds(self.webhook_timeout)

    @property
    def webhook_retry_initial_interval_seconds(self) -> Seconds:
        return from_milliseconds(self.webhook_retry_initial_interval)

    @property
    def webhook_retry_max_interval_seconds(self) -> Seconds:
        return from_milliseconds(self.webhook_retry_max_interval)

    @property
    def webhook_poll_interval_seconds(self) -> Seconds:
        return from_milliseconds(self.webhook_poll_interval)

    @property
    def webhook_lease_timeout_seconds(self) -> Seconds:
        return from_milliseconds(self.webhook_lease_timeout)

    @property
    def allowed_origins(self) -> frozenset[str] | None:
        """None means any origin is allowed."""
        if not self.ws_allowed_origins:
            return None
        return frozenset(o.strip().rstrip("/") for o in self.ws_allowed_origins.split(",") if o.strip())

    @property
    def cors_origins(self) -> tuple[str, ...]:
        """The origins of CORS_ALLOWED_ORIGINS; empty means no cross-origin access."""
        return _origin_list(self.cors_allowed_origins)


# An origin as a browser sends it: scheme, host, optional port; no path, no wildcard.
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _is_https_or_loopback(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    # Browsers send the scheme and host in lower case.
    return tuple(origin.strip().rstrip("/").lower() for origin in value.split(",") if origin.strip())


def describe_invalid(exc: ValidationError) -> str:
    """A refused environment as one line naming each variable, so that `taskroom` can say it and
    exit before it listens. A value is shown only where the message is ours (the durations): a
    refused secret or database URL is never echoed."""
    problems = []
    for error in exc.errors():
        message = error["msg"]
        if error["type"] == "value_error":  # our validators' own sentences, without pydantic's prefix
            message = str(error.get("ctx", {}).get("error", message))
        name = "_".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{name}: {message}" if name else message)
    return "; ".join(problems)
